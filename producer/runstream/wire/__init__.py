"""Generated protobuf code for the wire contract in ``proto/runstream/v1/``.

Do not edit ``events_pb2.py`` by hand: run ``python proto/generate.py``.
"""
