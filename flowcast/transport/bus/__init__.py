"""The in-process bus: Kafka's topics, partitions and consumer groups without a broker."""
