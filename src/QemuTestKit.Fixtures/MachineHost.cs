using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using QemuTestKit.Introspection;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Manifest;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Fixtures.Host;
using QemuTestKit.Fixtures.Manifest;
using QemuTestKit.Fixtures.Testing;

namespace QemuTestKit.Fixtures;

/// <summary>
/// The run-wide side of the fixtures, shared by every fixture of a test host (<see cref="Shared"/>): the build's
/// manifest, one ready state per machine, the limit on concurrent machines, the machines each running test owns,
/// and what is kept when a test ends. The framework adapters are thin layers over it.
/// </summary>
public sealed class MachineHost : IAsyncDisposable
{
    private static readonly Lazy<MachineHost> SharedHost = new(() =>
    {
        var host = new MachineHost(FixtureSettings.FromEnvironment());
        AppDomain.CurrentDomain.ProcessExit += (_, _) => host.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return host;
    });

    private readonly Lazy<ManifestFile> _manifest;
    private readonly ReadyStates _ready;
    private readonly SemaphoreSlim _slots;
    private readonly ConcurrentDictionary<string, List<GuestMachine>> _byTest = new(StringComparer.Ordinal);
    private readonly Lazy<BundleKeeper> _keeper;
    private readonly ReplaySource? _replay;
    private readonly ConcurrentDictionary<Task, byte> _ending = new();
    private int _disposed;

    /// <summary>How long disposal waits for tests that are still ending (writing bundles).</summary>
    private static readonly TimeSpan EndingGrace = TimeSpan.FromSeconds(60);

    /// <summary>How long disposal waits for tests still running to end themselves (a cancelled body unwinding).</summary>
    private static readonly TimeSpan AbandonedGrace = TimeSpan.FromSeconds(3);

    internal const string AbandonedMessage = "the test run ended while this test was still running (it timed out or the run was stopped)";

    public MachineHost(FixtureSettings settings, string? manifestPath = null, string? resultsDirectory = null, string? runRoot = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Settings = settings;
        RunRoot = runRoot;
        _manifest = new Lazy<ManifestFile>(() => ManifestFile.Load(manifestPath));
        _ready = new ReadyStates(PrivateStateRoot.Create(), runRoot);
        _slots = new SemaphoreSlim(settings.MaxMachines, settings.MaxMachines);
        _keeper = new Lazy<BundleKeeper>(() => new BundleKeeper(settings,
            settings.BundleDirectory is { } configured ? Path.GetFullPath(configured) : Path.Combine(resultsDirectory ?? ResultsDirectory.Find(), "qemutestkit"),
            TryManifest()?.Project, TryManifest()?.Configuration ?? EntryAssemblyConfiguration(), BundleKeeper.RunsUnderVSTest));
        _replay = settings.Replay is { } bundle ? new ReplaySource(bundle, settings.ReplayFrom) : null;
    }

    /// <summary>The host of this test process, configured from the environment (docs/fixtures.md).</summary>
    public static MachineHost Shared => SharedHost.Value;

    public FixtureSettings Settings { get; }

    /// <summary>Where run directories go (null: the runtime's default).</summary>
    public string? RunRoot { get; }

    /// <summary>True when this run replays a bundle (<c>QEMUTESTKIT_REPLAY</c>).</summary>
    public bool IsReplaying => _replay is not null;

    /// <summary>How many machines run now.</summary>
    public int RunningMachines => Settings.MaxMachines - _slots.CurrentCount;

    /// <summary>
    /// Starts machine <paramref name="name"/> of the build's manifest for <paramref name="test"/>: from its ready
    /// snapshot, recorded unless turned off, or replaying the bundle the run replays. Waits for a free slot first.
    /// </summary>
    /// <exception cref="FixtureException">No such machine, no manifest, or a replay that does not fit this test.</exception>
    public async Task<GuestMachine> StartAsync(ITestScope test, string name, MachineOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(test);
        ArgumentNullException.ThrowIfNull(name);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, test.CancellationToken);
        var ct = linked.Token;
        await _slots.WaitAsync(ct).ConfigureAwait(false);
        var released = 0;
        void Release()
        {
            if (Interlocked.Exchange(ref released, 1) == 0)
            {
                _slots.Release();
            }
        }

        try
        {
            GuestMachine guest;
            if (_replay is not null)
            {
                var session = await _replay.StartAsync(test, name, RunRoot, ct).ConfigureAwait(false);
                guest = new GuestMachine(test, session.Machine, session, Release);
                test.WriteLine($"qemutestkit: machine '{name}' replays {Settings.Replay} from {session.From}");
            }
            else
            {
                guest = await StartRecordedAsync(test, name, options, Release, ct).ConfigureAwait(false);
            }

            _byTest.AddOrUpdate(test.Key, _ => [guest], (_, list) =>
            {
                lock (list)
                {
                    list.Add(guest);
                }

                return list;
            });
            return guest;
        }
        catch
        {
            Release();
            throw;
        }
    }

    private async Task<GuestMachine> StartRecordedAsync(ITestScope test, string name, MachineOptions? options, Action release, CancellationToken ct)
    {
        var machine = _manifest.Value.Get(name);
        // Resolved before anything is prepared: a host whose package is missing fails at once, saying which to add.
        var launcher = machine.Host == MachineHosts.Local ? null : MachineHostings.For(machine).LauncherFor(machine);
        var record = options?.Record ?? machine.Record ?? Settings.Record;
        var startOptions = new MachineStartOptions
        {
            Mode = record ? RunMode.Record : RunMode.Normal,
            CheckpointInterval = record ? options?.CheckpointInterval ?? Settings.CheckpointInterval : null,
            RunRoot = RunRoot,
            Launcher = launcher,
        };

        ReadyState? state = null;
        if (machine.Spec.Ready.Pattern is null)
        {
            // Nothing to snapshot at: every test boots it cold.
            startOptions = startOptions with { IcountShift = record ? Settings.IcountShift : null };
        }
        else
        {
            var ready = await _ready.GetAsync(machine, launcher, record ? Settings.IcountShift ?? CommandLineOptions.DefaultRecordIcountShift : null, ct)
                .ConfigureAwait(false);
            if (ready.Note is not null)
            {
                test.WriteLine($"qemutestkit: {ready.Note}");
            }

            state = ready.State;
            startOptions = startOptions with { Catalog = ready.Catalog };
        }

        // One way for every host: its launcher (null for this host) is in the options.
        var started = state is null
            ? await QemuMachine.StartAsync(machine.Spec, startOptions, ct).ConfigureAwait(false)
            : await state.StartAsync(machine.Spec, startOptions, ct).ConfigureAwait(false);
        return new GuestMachine(test, started, null, release);
    }

    /// <summary>
    /// Ends <paramref name="test"/> for its machines: each is stopped, and its recording is kept as a bundle (attached
    /// to the test, with the replay commands in its output) when the outcome and <see cref="FixtureSettings.Keep"/>
    /// say so, or deleted. Called by the adapters after the test, whether or not it disposed its machines.
    /// </summary>
    public Task EndTestAsync(ITestScope test, TestOutcome outcome, string? failureMessage = null)
    {
        ArgumentNullException.ThrowIfNull(test);
        if (!_byTest.TryRemove(test.Key, out var machines))
        {
            return Task.CompletedTask;
        }

        // Tracked until done: xunit abandons a timed-out test's After hook, and the run may end while it writes a
        // bundle; disposing the host (at process exit) waits for these, so no bundle is left half-written.
        var ending = EndMachinesAsync(machines, outcome, failureMessage);
        _ending.TryAdd(ending, 0);
        _ = ending.ContinueWith(t => _ending.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return ending;
    }

    private async Task EndMachinesAsync(List<GuestMachine> machines, TestOutcome outcome, string? failureMessage)
    {
        GuestMachine[] all;
        lock (machines)
        {
            all = [.. machines];
        }

        foreach (var machine in all)
        {
            await _keeper.Value.EndAsync(machine, outcome, failureMessage).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        // A test the framework stopped waiting for (xunit reports a timed-out test and ends the run while its body
        // still unwinds, and that body may never resume) is ended here as failed after a moment in which it may end
        // itself, which knows the failure better. Short: xunit force-exits a process whose exit takes over 10 s.
        var deadline = DateTime.UtcNow + AbandonedGrace;
        while (!_byTest.IsEmpty && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50).ConfigureAwait(false);
        }

        foreach (var test in _byTest.Keys.ToArray())
        {
            GuestMachine? first = null;
            if (_byTest.TryGetValue(test, out var machines))
            {
                lock (machines)
                {
                    first = machines.FirstOrDefault();
                }
            }

            if (first is not null)
            {
                _ = EndTestAsync(first.Test, TestOutcome.Failed, AbandonedMessage);
            }
        }

        await WaitForEndingAsync().ConfigureAwait(false);
        foreach (var test in _byTest.Keys.ToArray())
        {
            if (_byTest.TryRemove(test, out var machines))
            {
                foreach (var machine in machines.ToArray())
                {
                    await machine.Machine.DisposeAsync().ConfigureAwait(false);
                }
            }
        }

        _ready.Dispose();
        _replay?.Dispose();
    }

    private async Task WaitForEndingAsync()
    {
        try
        {
            await Task.WhenAll(_ending.Keys).WaitAsync(EndingGrace).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A test that ends late reports its own failure; disposal goes on and stops what is left.
        }
    }

    private MachinesManifest? TryManifest()
    {
        try
        {
            return _manifest.Value.Content;
        }
        catch (FixtureException)
        {
            return null;
        }
    }

    /// <summary>For manifests written before they named the configuration: the test application's own.</summary>
    private static string? EntryAssemblyConfiguration() => BundleKeeper.RunsUnderVSTest
        ? null
        : Assembly.GetEntryAssembly()?.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration;

    /// <summary>Ready states prepared by a test run live in a private temporary directory; dead runs' ones are swept.</summary>
    private static class PrivateStateRoot
    {
        private const string Prefix = "qemutestkit-ready-";

        public static string Create()
        {
            var temp = Path.GetTempPath();
            foreach (var directory in Directory.EnumerateDirectories(temp, Prefix + "*"))
            {
                var pidText = Path.GetFileName(directory)[Prefix.Length..].Split('-')[0];
                if (int.TryParse(pidText, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && !IsAlive(pid))
                {
                    try
                    {
                        Directory.Delete(directory, recursive: true);
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                    }
                }
            }

            return Path.Combine(temp, string.Create(CultureInfo.InvariantCulture, $"{Prefix}{Environment.ProcessId}-{Guid.NewGuid():N}"));
        }

        private static bool IsAlive(int pid) => Directory.Exists($"/proc/{pid}");
    }
}
