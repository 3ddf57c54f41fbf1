#!/usr/bin/env bash
# One-shot compose service (apache/kafka image): create runstream's topics if missing.
# Same layout as runstream_processors/topics.py: the events topic keyed by run id with
# RUNSTREAM_EVENTS_PARTITIONS partitions, the dead-letter topic with one partition kept
# 30 days. Existing topics are left as they are (growing partitions would move runs).
set -euo pipefail

bootstrap=${RUNSTREAM_KAFKA_BOOTSTRAP:-kafka:9092}
partitions=${RUNSTREAM_EVENTS_PARTITIONS:-6}
topics=/opt/kafka/bin/kafka-topics.sh

create() {
    local name=$1 count=$2
    shift 2
    "$topics" --bootstrap-server "$bootstrap" --create --if-not-exists \
        --topic "$name" --partitions "$count" --replication-factor 1 "$@"
}

create runstream.events.v1 "$partitions"
create runstream.dlq.v1 1 --config retention.ms=2592000000
"$topics" --bootstrap-server "$bootstrap" --describe --topic runstream.events.v1
"$topics" --bootstrap-server "$bootstrap" --describe --topic runstream.dlq.v1
