using System.Diagnostics;
using QemuTestKit.Introspection.Qmp;

namespace QemuTestKit.Introspection.Tests.Qmp;

/// <summary>Timeouts and assertions shared by the QMP client tests: every wait is bounded, so a hang fails.</summary>
internal static class QmpTestSupport
{
    /// <summary>The client timeout the fault tests use.</summary>
    public static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Anything still running after this is a hang.</summary>
    public static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(10);

    public static QmpClientOptions FastOptions => new() { ConnectTimeout = ClientTimeout, CommandTimeout = ClientTimeout };

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static Task<QmpClient> ConnectAsync(ScriptedQmpPeer peer, QmpClientOptions? options = null)
        => QmpClient.ConnectUnixAsync(peer.SocketPath!, options ?? FastOptions, Ct).WaitAsync(HangLimit, Ct);

    /// <summary>Runs <paramref name="act"/> and asserts it throws exactly <typeparamref name="T"/> within <paramref name="within"/>.</summary>
    /// <remarks>With <paramref name="exactly"/> false a subtype counts too (cancellation surfaces as TaskCanceledException).</remarks>
    public static async Task<T> ThrowsWithinAsync<T>(Func<Task> act, TimeSpan within, bool exactly = true)
        where T : Exception
    {
        var clock = Stopwatch.StartNew();
        Func<Task> bounded = () => act().WaitAsync(HangLimit);
        var thrown = exactly
            ? (await bounded.Should().ThrowExactlyAsync<T>()).Which
            : (await bounded.Should().ThrowAsync<T>()).Which;
        clock.Elapsed.Should().BeLessThan(within, "the failure must be reported promptly, not after a hang");
        return thrown;
    }

    /// <summary>Asserts a failure that is not a timeout arrives well before the client timeout would have fired.</summary>
    public static Task<T> ThrowsPromptlyAsync<T>(Func<Task> act)
        where T : Exception
        => ThrowsWithinAsync<T>(act, ClientTimeout - TimeSpan.FromMilliseconds(500));

    /// <summary>Asserts a <see cref="QmpTimeoutException"/> for <paramref name="timeout"/>: not early, not much late.</summary>
    public static async Task<QmpTimeoutException> TimesOutAsync(Func<Task> act, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        var thrown = await ThrowsWithinAsync<QmpTimeoutException>(act, timeout + TimeSpan.FromSeconds(3));
        clock.Elapsed.Should().BeGreaterThanOrEqualTo(timeout - TimeSpan.FromMilliseconds(100), "a timeout must not fire early");
        thrown.Timeout.Should().Be(timeout);
        return thrown;
    }

    public static Task<T> Bounded<T>(this Task<T> task) => task.WaitAsync(HangLimit, Ct);

    public static Task Bounded(this Task task) => task.WaitAsync(HangLimit, Ct);
}
