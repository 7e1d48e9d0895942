import Testing

@Test func kafkaWireTestTargetBuilds() {}
