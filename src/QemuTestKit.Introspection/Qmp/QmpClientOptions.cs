namespace QemuTestKit.Introspection.Qmp;

/// <summary>Limits and diagnostics for a <see cref="QmpClient"/>.</summary>
public sealed record QmpClientOptions
{
    /// <summary>Timeout for a command when the caller gives none.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long to wait for the greeting and the <c>qmp_capabilities</c> answer.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest line accepted from the peer. <c>query-qmp-schema</c> is the largest real reply (well under 1 MiB on QEMU 7.2).</summary>
    public int MaxLineBytes { get; init; } = 32 * 1024 * 1024;

    /// <summary>How many recent events are kept for late waiters.</summary>
    public int EventHistorySize { get; init; } = 64;

    /// <summary>How old an event may be and still be seen by a waiter that subscribes after it arrived.</summary>
    public TimeSpan EventHistoryWindow { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Called once when the connection drops, to learn how the peer process ended (exit code, stderr tail).
    /// Null when the peer is not a process this library started.
    /// </summary>
    public Func<Task<QmpPeerExit?>>? DescribePeerExit { get; init; }
}
