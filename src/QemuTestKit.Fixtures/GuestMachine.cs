using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using QemuTestKit.Introspection.Qmp;
using QemuTestKit.Machines.Console;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Fixtures.Testing;

namespace QemuTestKit.Fixtures;

/// <summary>
/// A machine handed to one test: started from the ready snapshot, recorded unless turned off, or replaying a bundle
/// when the run replays one. It belongs to the test that started it: disposing it stops QEMU, and when the test ends
/// its outcome decides whether the recording is kept as a bundle or deleted (a machine the test forgot to dispose is
/// stopped then too).
/// </summary>
public sealed class GuestMachine : IAsyncDisposable
{
    private readonly ITestScope _test;
    private readonly ReplaySession? _replay;
    private readonly Action _releaseSlot;
    private int _stopped;
    private int _released;

    internal GuestMachine(ITestScope test, QemuMachine machine, ReplaySession? replay, Action releaseSlot)
    {
        _test = test;
        Machine = machine;
        _replay = replay;
        _releaseSlot = releaseSlot;
        // A replay must see the same markers as the recording: ids from the test, the machine and a counter, not
        // random ones. (Unique within the console's life, which is all the shell needs.)
        var prefix = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{test.TestName}\n{machine.Spec.Name}")))[..8].ToLowerInvariant();
        var next = 0;
        machine.Shell.IdGenerator = () => $"q{prefix}n{Interlocked.Increment(ref next)}";
    }

    public string Name => Machine.Spec.Name;

    public MachineSpec Spec => Machine.Spec;

    /// <summary>The runtime's machine, for what this facade does not offer.</summary>
    public QemuMachine Machine { get; }

    public SerialConsole Console => Machine.Console;

    public QmpClient Qmp => Machine.Qmp;

    public bool IsRecording => Machine.IsRecording;

    /// <summary>True when the run replays a bundle: console output comes from the recording and input is ignored.</summary>
    public bool IsReplaying => _replay is not null;

    /// <summary>The bundle being replayed, when <see cref="IsReplaying"/>.</summary>
    public ReplaySession? Replay => _replay;

    /// <summary>Checkpoints taken so far (or, in a replay, the recording's).</summary>
    public IReadOnlyList<Checkpoint> Checkpoints => Machine.Checkpoints;

    internal ITestScope Test => _test;

    public Task<ExecResult> ExecAsync(string command, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        => WithTestToken(ct => Machine.ExecAsync(command, timeout, ct), cancellationToken);

    public Task<Match> WaitForAsync(string text, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        => WaitForAsync(new Regex(Regex.Escape(text), RegexOptions.CultureInvariant), timeout, cancellationToken);

    public Task<Match> WaitForAsync(Regex pattern, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        => WithTestToken(ct => Machine.WaitForAsync(pattern, timeout ?? TimeSpan.FromSeconds(60), ct), cancellationToken);

    /// <summary>
    /// The host port on 127.0.0.1 that leads to <paramref name="guestPort"/>: declare <c>HostForwards="tcp:0-:22"</c> and
    /// each machine gets a free port, so tests in parallel cannot clash.
    /// </summary>
    public Task<int> HostPortAsync(int guestPort, string protocol = "tcp", CancellationToken cancellationToken = default)
        => WithTestToken(ct => Machine.HostPortAsync(guestPort, protocol, ct), cancellationToken);

    /// <summary>Types a line on console 0 (ignored by QEMU in a replay: the recorded input is replayed instead).</summary>
    public Task SendLineAsync(string line, CancellationToken cancellationToken = default)
        => WithTestToken(ct => Machine.SendLineAsync(line, ct), cancellationToken);

    /// <summary>
    /// Marks this moment of the recording (a snapshot tied to the instruction count): a replay can start here. In a
    /// replay it returns the recording's checkpoint of that name; without recording it does nothing.
    /// </summary>
    public async Task<Checkpoint?> CheckpointAsync(string name, CancellationToken cancellationToken = default)
    {
        if (_replay is not null)
        {
            return _replay.Checkpoint?.Name == name ? _replay.Checkpoint : null;
        }

        if (!Machine.IsRecording)
        {
            return null;
        }

        return await WithTestToken(ct => Machine.CheckpointAsync(name, ct), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Saves a PNG of the display (the machine needs a display device); returns its path.</summary>
    public async Task<string> ScreenshotAsync(string? pngPath = null, CancellationToken cancellationToken = default)
    {
        pngPath ??= Path.Combine(Machine.RunDirectoryPath, $"screen-{DateTime.UtcNow:HHmmssfff}.png");
        await WithTestToken(ct => Machine.ScreenshotAsync(pngPath, ct), cancellationToken).ConfigureAwait(false);
        return pngPath;
    }

    /// <summary>
    /// Stops QEMU (which completes the recording). What happens to the recording is decided when the test ends,
    /// because a failing assertion disposes machines before anyone knows the test failed.
    /// </summary>
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    internal async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        try
        {
            await Machine.ShutdownAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        finally
        {
            ReleaseSlot();
        }
    }

    internal void ReleaseSlot()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            _releaseSlot();
        }
    }

    private async Task<T> WithTestToken<T>(Func<CancellationToken, Task<T>> action, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _test.CancellationToken);
        return await action(linked.Token).ConfigureAwait(false);
    }

    private async Task WithTestToken(Func<CancellationToken, Task> action, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _test.CancellationToken);
        await action(linked.Token).ConfigureAwait(false);
    }
}
