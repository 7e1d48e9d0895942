import Testing

@Test func brokerTestTargetBuilds() {}
