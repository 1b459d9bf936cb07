"""Moving records: Kafka clients and topics, the in-process bus, sinks, read-back, the development
broker.
"""
