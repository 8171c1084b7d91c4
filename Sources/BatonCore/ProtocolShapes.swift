// The wire shapes the core works with (identifiers, deploy requests, limits) are the
// protocol's own: every user of the core sees them too.
@_exported import BatonProtocol
