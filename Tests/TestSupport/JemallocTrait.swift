import Testing

/// True in sanitizer builds (VALKEYPER_SANITIZE=1, see Package.swift), which leave jemalloc out.
public let isSanitizerBuild: Bool = {
    #if VALKEYPER_SANITIZE
    return true
    #else
    return false
    #endif
}()

extension Trait where Self == ConditionTrait {
    /// For a test that reads jemalloc's per-thread counters. It runs (and fails if jemalloc
    /// does not serve malloc) in every build but a sanitizer one, where it is skipped with
    /// this reason: a sanitizer brings its own malloc.
    public static var needsJemalloc: Self {
        .disabled(if: isSanitizerBuild, "jemalloc is not linked in sanitizer builds (VALKEYPER_SANITIZE=1)")
    }
}
