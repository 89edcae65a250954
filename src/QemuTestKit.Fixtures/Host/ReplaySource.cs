using QemuTestKit.Introspection;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Fixtures.Testing;

namespace QemuTestKit.Fixtures.Host;

/// <summary>
/// Replay through <c>dotnet test</c>: the bundle named by <c>QEMUTESTKIT_REPLAY</c>, handed to the test it recorded
/// (and only to it) as a replaying machine.
/// </summary>
internal sealed class ReplaySource : IDisposable
{
    private readonly string _path;
    private readonly string? _from;
    private readonly SemaphoreSlim _open = new(1, 1);
    private ReplayBundle? _bundle;
    private int _started;

    public ReplaySource(string path, string? from)
    {
        _path = Path.GetFullPath(path);
        _from = from;
    }

    public async Task<ReplaySession> StartAsync(ITestScope test, string machineName, string? runRoot, CancellationToken cancellationToken)
    {
        var bundle = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var recorded = bundle.Manifest.Test?.Name;
        if (recorded is not null && !string.Equals(recorded, test.TestName, StringComparison.Ordinal))
        {
            throw new FixtureException(
                $"{FixtureSettings.ReplayVariable} names a bundle of test '{recorded}', but this is '{test.TestName}': run only that test (dotnet test -- {string.Join(' ', test.FilterArguments)} selects this one), or unset {FixtureSettings.ReplayVariable}");
        }

        if (!string.Equals(bundle.Manifest.Spec.Name, machineName, StringComparison.Ordinal))
        {
            throw new FixtureException(
                $"{FixtureSettings.ReplayVariable} names a recording of machine '{bundle.Manifest.Spec.Name}', but the test started machine '{machineName}': a bundle replays the one machine it recorded");
        }

        if (Interlocked.Exchange(ref _started, 1) == 1)
        {
            throw new FixtureException($"the bundle {_path} was already replayed once in this run: a bundle replays one machine of one test");
        }

        try
        {
            // The session wakes QEMU while the test waits on the console (Replayer.StartAsync): nothing else polls QMP here.
            return await Replayer.StartAsync(bundle, new ReplayOptions { FromCheckpoint = _from, RunRoot = runRoot, ConsoleFromStart = true }, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (ReplayException e)
        {
            throw new FixtureException($"{FixtureSettings.ReplayVariable}={_path}: {e.Message}", e);
        }
    }

    public void Dispose()
    {
        _bundle?.Dispose();
        _open.Dispose();
    }

    private async Task<ReplayBundle> OpenAsync(CancellationToken cancellationToken)
    {
        await _open.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_bundle is null)
            {
                try
                {
                    _bundle = await ReplayBundle.OpenAsync(_path, cancellationToken).ConfigureAwait(false);
                }
                catch (QemuTestKitException e)
                {
                    throw new FixtureException($"{FixtureSettings.ReplayVariable}={_path}: {e.Message}", e);
                }
            }

            return _bundle;
        }
        finally
        {
            _open.Release();
        }
    }
}
