using System.Diagnostics;
using System.Globalization;

namespace QemuTestKit.Cli.Progress;

/// <summary>
/// A progress line every ~10 s while something long runs (a build, a test run, a replay), so a silent minute is never
/// mistaken for a hang. <c>QEMUTESTKIT_PROGRESS_INTERVAL</c> (seconds) changes the interval, for tests and impatient people.
/// </summary>
internal sealed class Heartbeat : IAsyncDisposable
{
    public const string IntervalVariable = "QEMUTESTKIT_PROGRESS_INTERVAL";
    private readonly CancellationTokenSource _stop;
    private readonly Task _loop;

    private Heartbeat(Func<TimeSpan, string> line, Action<string> say, CancellationToken cancellationToken)
    {
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _loop = LoopAsync(line, say, _stop.Token);
    }

    public static TimeSpan Interval { get; } =
        double.TryParse(Environment.GetEnvironmentVariable(IntervalVariable), NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds is > 0 and < 3600
            ? TimeSpan.FromSeconds(seconds)
            : TimeSpan.FromSeconds(10);

    /// <summary>Says <paramref name="line"/>(elapsed) every <see cref="Interval"/> until disposed.</summary>
    public static Heartbeat Start(Func<TimeSpan, string> line, Action<string> say, CancellationToken cancellationToken) => new(line, say, cancellationToken);

    /// <summary>Elapsed time as the progress lines show it.</summary>
    public static string Seconds(TimeSpan elapsed) => string.Create(CultureInfo.InvariantCulture, $"{elapsed.TotalSeconds:0} s");

    private static async Task LoopAsync(Func<TimeSpan, string> line, Action<string> say, CancellationToken ct)
    {
        var stopwatch = Stopwatch.StartNew();
        using var timer = new PeriodicTimer(Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                say(line(stopwatch.Elapsed));
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
