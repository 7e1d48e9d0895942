// Placeholder: the Kafka wire codec arrives with issue 6.
enum KafkaWirePlaceholder {}
