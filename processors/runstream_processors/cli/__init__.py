"""The ``runstream`` command line: query runs, compare them, run SQL, operate the pipeline."""
