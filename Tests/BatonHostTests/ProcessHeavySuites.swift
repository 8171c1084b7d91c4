import Testing

/// The suites that run many real processes (hosts, schedulers, Python sandboxes) take turns:
/// side by side on a 2-core machine they starve each other and the rest of the tests into
/// timeouts that say nothing about Baton.
@Suite(.serialized) enum ProcessHeavySuites {}
