// Placeholder: the built-in broker arrives with issue 6.
enum BrokerPlaceholder {}
