using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;
using QemuTestKit.Introspection.Processes;
using QemuTestKit.Introspection.Qmp;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Console;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// One running QEMU machine: QEMU where its <see cref="IQemuHost"/> runs it (a child process that dies with this one,
/// or a container), its private run directory, its QMP connection, its serial consoles, and a shell session on
/// console 0. Disposal shuts it down (gracefully, then by force).
/// </summary>
public sealed class QemuMachine : IAsyncDisposable
{
    private readonly IQemuHost _host;
    private readonly RunDirectory _run;
    private readonly IReadOnlyList<SerialConsole> _consoles;
    private readonly ShellSession _shell;
    private readonly MachineStartOptions _options;
    private readonly List<Checkpoint> _checkpoints = [];
    private readonly DateTimeOffset _startedAt = DateTimeOffset.UtcNow;
    private IcountTagger? _icountTagger;
    private AutoCheckpoints? _autoCheckpoints;
    private int _disposed;

    private QemuMachine(MachineSpec spec, QemuCatalog catalog, IQemuHost host, RunDirectory run, QmpClient qmp,
        IReadOnlyList<SerialConsole> consoles, MachineRunFiles files, IReadOnlyList<string> arguments, MachineStartOptions options)
    {
        Spec = spec;
        Catalog = catalog;
        _host = host;
        _run = run;
        Qmp = qmp;
        _consoles = consoles;
        Files = files;
        Arguments = arguments;
        _options = options;
        _shell = new ShellSession(consoles[0]);
        // A guest loaded from a snapshot wakes at the snapshot's time, minutes or days behind. A normal run gets the
        // host's time before its first command; a recorded run keeps the recording's own clock, which its replay
        // repeats exactly (docs/fixtures.md, "The guest's clock").
        if (options.Mode == RunMode.Normal && options.LoadSnapshot is not null && options.SetGuestClock)
        {
            _shell.SetupCommand = static () => string.Create(CultureInfo.InvariantCulture,
                $"date -u -s @{DateTimeOffset.UtcNow.ToUnixTimeSeconds()} >/dev/null 2>&1");
        }
        // Record mode loses serial input beyond the UART's 16-byte FIFO: QEMU queues recorded input as events and keeps
        // reading the socket meanwhile. So there, input waits for the guest's echo, half a FIFO at a time.
        if (options.Mode == RunMode.Record)
        {
            foreach (var console in consoles)
            {
                console.InputPaceBytes = 8;
                console.Nudge = NudgeAsync;
            }
        }

        if (options.Mode != RunMode.Normal)
        {
            _icountTagger = new IcountTagger(qmp, consoles[0]);
        }

        if (options.Mode == RunMode.Record && options.CheckpointInterval is { } interval)
        {
            _autoCheckpoints = new AutoCheckpoints(this, interval);
        }
    }

    public MachineSpec Spec { get; }

    public QemuCatalog Catalog { get; }

    /// <summary>The QMP connection, for anything this class does not wrap.</summary>
    public QmpClient Qmp { get; }

    /// <summary>Console 0, the one the ready pattern and the shell use.</summary>
    public SerialConsole Console => _consoles[0];

    public IReadOnlyList<SerialConsole> Consoles => _consoles;

    /// <summary>The shell on console 0 that <see cref="ExecAsync"/> drives (its marker ids can be made deterministic for replays).</summary>
    public ShellSession Shell => _shell;

    /// <summary>The files of this run (sockets, state image, overlays, replay log).</summary>
    public MachineRunFiles Files { get; }

    /// <summary>The exact argument array QEMU was started with.</summary>
    public IReadOnlyList<string> Arguments { get; }

    public string RunDirectoryPath => _run.Path;

    /// <summary>The run directory, for what keeps a finished run (a replay bundle) beside the machine.</summary>
    internal RunDirectory Run => _run;

    /// <summary>QEMU's process id on this host (0 when it runs elsewhere, see <see cref="Host"/>).</summary>
    public int ProcessId => _host.ProcessId;

    /// <summary>Where QEMU runs: a <see cref="LocalQemuHost"/> for a child process of this one, or elsewhere (a container).</summary>
    public IQemuHost Host => _host;

    /// <summary>Whether this run is being recorded (<c>-icount rr=record</c>).</summary>
    public bool IsRecording => _options.Mode == RunMode.Record;

    public RunMode Mode => _options.Mode;

    /// <summary>The snapshot this run started from, if any.</summary>
    public string? StartSnapshot => _options.LoadSnapshot;

    /// <summary>The device tree its devices were placed by, so that a replay of it places them alike.</summary>
    internal MachineDeviceTree? DeviceTree => _options.DeviceTree;

    /// <summary>The icount shift this run uses (the record/replay default when it counts only because it records).</summary>
    public int? IcountShift => _options.IcountShift ?? (_options.Mode == RunMode.Normal ? null : CommandLineOptions.DefaultRecordIcountShift);

    public DateTimeOffset StartedAt => _startedAt;

    /// <summary>The checkpoints taken so far, in order.</summary>
    public IReadOnlyList<Checkpoint> Checkpoints
    {
        get
        {
            lock (_checkpoints)
            {
                return _checkpoints.ToArray();
            }
        }
    }

    /// <summary>QEMU's stderr so far.</summary>
    public string StderrTail => _host.StderrTail;

    public bool HasExited => _host.HasExited;

    public int? ExitCode => _host.ExitCode;

    /// <summary>
    /// Starts a machine where <see cref="MachineStartOptions.Launcher"/> runs QEMU (this host when null): the one way in,
    /// for cold starts and, through <see cref="ReadyState.StartAsync"/>, starts from a ready state. The catalog is that
    /// QEMU build's (<see cref="IQemuLauncher.CatalogAsync"/>): a container's checks the spec against it; on this host
    /// the build has validated the spec (<c>MachineSpecValidator</c>).
    /// </summary>
    /// <exception cref="MachineStartException">QEMU did not start, or did not open its sockets in time.</exception>
    public static async Task<QemuMachine> StartAsync(MachineSpec spec, MachineStartOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        options ??= new MachineStartOptions();
        var launcher = options.Launcher ?? LocalQemuLauncher.Instance;
        var catalog = await launcher.CatalogAsync(spec, options, recording: options.Mode != RunMode.Normal, cancellationToken).ConfigureAwait(false);
        return await launcher.LaunchAsync(spec, options with { Catalog = catalog }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Wraps a QEMU that another host started (see <see cref="IQemuHost"/>) whose QMP connection and consoles are open already:
    /// the returned machine owns all of them and <paramref name="run"/>, and offers the same API as a local one.
    /// </summary>
    /// <param name="files">The run's files as paths on this host (where <see cref="IQemuHost.CollectRunFilesAsync"/> puts them).</param>
    /// <param name="arguments">The argument array QEMU was started with (paths as QEMU sees them).</param>
    public static QemuMachine Attach(MachineSpec spec, QemuCatalog catalog, IQemuHost host, QmpClient qmp, IReadOnlyList<SerialConsole> consoles,
        RunDirectory run, MachineRunFiles files, IReadOnlyList<string> arguments, MachineStartOptions options)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(qmp);
        ArgumentNullException.ThrowIfNull(consoles);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(options);
        if (consoles.Count == 0)
        {
            throw new ArgumentException("a machine needs at least console 0", nameof(consoles));
        }

        return new QemuMachine(spec, catalog, host, run, qmp, consoles, files, arguments, options);
    }

    /// <summary>Waits for the spec's ready pattern on console 0.</summary>
    public Task<Match> WaitUntilReadyAsync(CancellationToken cancellationToken = default)
    {
        var pattern = Spec.Ready.Pattern ?? throw new InvalidOperationException($"machine '{Spec.Name}' declares no ready pattern");
        return WaitForAsync(new Regex(pattern, RegexOptions.CultureInvariant), TimeSpan.FromSeconds(Spec.Ready.TimeoutSeconds), cancellationToken);
    }

    /// <summary>Waits for a pattern on console 0; fails with the console tail on timeout and promptly if QEMU exits.</summary>
    public Task<Match> WaitForAsync(Regex pattern, TimeSpan timeout, CancellationToken cancellationToken = default)
        => GuardAsync(() => Console.WaitForAsync(pattern, timeout, cancellationToken));

    public Task SendLineAsync(string line, CancellationToken cancellationToken = default)
        => GuardAsync(async () =>
        {
            await Console.SendLineAsync(line, cancellationToken).ConfigureAwait(false);
            return true;
        });

    /// <summary>Runs a command through the shell on console 0 and returns its exit code and output.</summary>
    public Task<ExecResult> ExecAsync(string command, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        => GuardAsync(() => _shell.ExecAsync(command, timeout ?? TimeSpan.FromSeconds(60), cancellationToken));

    /// <summary>Saves a snapshot of the whole machine into its state image (and writable disk overlays).</summary>
    public async Task SaveSnapshotAsync(string name, CancellationToken cancellationToken = default)
    {
        ValidateSnapshotName(name);
        if (Files.MemoryFileShared)
        {
            // The snapshot holds no RAM, the file does: the guest must not change it again (see GuestMemoryFile).
            await Qmp.ExecuteAsync("stop", cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        if (_options.Mode == RunMode.Normal && Catalog.HasCommand("snapshot-save"))
        {
            await RunSnapshotJobAsync("snapshot-save", name, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // Record/replay runs use savevm: it is what QEMU's record/replay documentation and tests exercise.
            await HumanMonitorAsync($"savevm {name}", cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Returns the machine to a snapshot saved earlier.</summary>
    public async Task LoadSnapshotAsync(string name, CancellationToken cancellationToken = default)
    {
        ValidateSnapshotName(name);
        if (Files.MemoryFile is not null && name == _options.LoadSnapshot)
        {
            throw new InvalidOperationException(
                $"machine '{Spec.Name}' started from snapshot '{name}' with its RAM in a separate file, and that snapshot holds no RAM to go back to: " +
                "start a new machine from the ready state, or save a snapshot of your own after the start and load that one");
        }

        if (_options.Mode == RunMode.Normal && Catalog.HasCommand("snapshot-load"))
        {
            await RunSnapshotJobAsync("snapshot-load", name, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await HumanMonitorAsync($"loadvm {name}", cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Marks this moment of a recorded run: pauses the guest, notes how much console output has arrived, saves a
    /// snapshot (cheap: about 0.1 s for a 256 MiB guest), notes the instruction count, and resumes. A replay can start
    /// from any checkpoint and replays only what follows it.
    /// </summary>
    /// <exception cref="InvalidOperationException">The machine is not recorded.</exception>
    public async Task<Checkpoint> CheckpointAsync(string name, CancellationToken cancellationToken = default)
    {
        ValidateSnapshotName(name);
        if (!IsRecording)
        {
            throw new InvalidOperationException($"machine '{Spec.Name}' is not recorded: checkpoints mark moments of a recording");
        }

        lock (_checkpoints)
        {
            if (_checkpoints.Any(c => c.Name == name) || name == StartSnapshot)
            {
                throw new ArgumentException($"machine '{Spec.Name}' already has a checkpoint named '{name}'", nameof(name));
            }
        }

        return await GuardAsync(async () =>
        {
            // QEMU refuses savevm while recorded events wait in its replay queue ("Try once more later"): the guest
            // runs a moment so they drain, then the checkpoint is tried again, for up to 10 s.
            var refusedUntil = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            for (var attempt = 1; ; attempt++)
            {
                if (attempt > 1)
                {
                    await Task.Delay(25, cancellationToken).ConfigureAwait(false);
                }

                var mark = Qmp.LastEventSequence;
                await Qmp.ExecuteAsync("stop", cancellationToken: cancellationToken).ConfigureAwait(false);
                try
                {
                    await Qmp.WaitForEventAsync("STOP", TimeSpan.FromSeconds(30), mark, cancellationToken: cancellationToken).ConfigureAwait(false);
                    // With the guest stopped no more output comes; what it wrote before is in the socket or the transcript.
                    await Console.WaitForInputDrainedAsync(cancellationToken).ConfigureAwait(false);
                    var offset = Console.Transcript.Length;
                    try
                    {
                        await HumanMonitorAsync($"savevm {name}", cancellationToken).ConfigureAwait(false);
                    }
                    catch (MachineCommandException e) when (e.Message.Contains("once more later", StringComparison.Ordinal) && DateTime.UtcNow < refusedUntil)
                    {
                        continue;
                    }

                    var icount = await ReplayIcount.QueryAsync(Qmp, cancellationToken).ConfigureAwait(false) ?? 0;
                    var checkpoint = new Checkpoint(name, icount, offset, DateTimeOffset.UtcNow);
                    lock (_checkpoints)
                    {
                        _checkpoints.Add(checkpoint);
                    }

                    return checkpoint;
                }
                finally
                {
                    if (Qmp.IsConnected)
                    {
                        await Qmp.ExecuteAsync("cont", cancellationToken: CancellationToken.None).ConfigureAwait(false);
                    }
                }
            }
        }).ConfigureAwait(false);
    }

    /// <summary>Ends the icount stamps and automatic checkpoints of a recorded run, before it is shut down and kept.</summary>
    internal async Task StopRecordingHelpersAsync()
    {
        if (_autoCheckpoints is not null)
        {
            await _autoCheckpoints.DisposeAsync().ConfigureAwait(false);
            _autoCheckpoints = null;
        }

        if (_icountTagger is not null)
        {
            await _icountTagger.DisposeAsync().ConfigureAwait(false);
            _icountTagger = null;
        }
    }

    /// <summary>Saves a PNG of the machine's display (needs a display device, for example VGA).</summary>
    public async Task ScreenshotAsync(string pngPath, CancellationToken cancellationToken = default)
    {
        var full = Path.GetFullPath(pngPath);
        try
        {
            await Qmp.ExecuteAsync("screendump", new JsonObject { ["filename"] = full, ["format"] = "png" }, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (QmpErrorException e)
        {
            throw new MachineCommandException($"machine '{Spec.Name}' cannot take a screenshot: {e.Description} (declare a display device such as VGA)", e);
        }
    }

    /// <summary>Every host port forward of the machine's NICs as QEMU bound it (a declared host port 0 shows its real port here).</summary>
    public async Task<IReadOnlyList<ForwardedPort>> ForwardedPortsAsync(CancellationToken cancellationToken = default) =>
        ForwardedPorts.Parse(await HumanMonitorAsync("info usernet", cancellationToken).ConfigureAwait(false));

    /// <summary>The host port on 127.0.0.1 that leads to <paramref name="guestPort"/> (for a forward declared with host port 0, the one QEMU took).</summary>
    /// <exception cref="MachineCommandException">No forward of that protocol leads to that guest port.</exception>
    public async Task<int> HostPortAsync(int guestPort, string protocol = "tcp", CancellationToken cancellationToken = default)
    {
        var ports = await ForwardedPortsAsync(cancellationToken).ConfigureAwait(false);
        return ports.FirstOrDefault(p => p.GuestPort == guestPort && p.Protocol == protocol)?.HostPort
            ?? throw new MachineCommandException(string.Create(CultureInfo.InvariantCulture,
                $"machine '{Spec.Name}' forwards no {protocol} host port to guest port {guestPort}; it forwards: {(ports.Count == 0 ? "nothing" : string.Join(", ", ports.Select(p => $"{p.Protocol}:{p.HostPort}-:{p.GuestPort}")))} (declare one with HostForwards=\"{protocol}:0-:{guestPort}\" on its QemuNic)"));
    }

    /// <summary>Runs an HMP command through QMP and fails when QEMU reports an error in its text.</summary>
    public async Task<string> HumanMonitorAsync(string commandLine, CancellationToken cancellationToken = default)
    {
        var output = await Qmp.ExecuteAsync("human-monitor-command", new JsonObject { ["command-line"] = commandLine },
            TimeSpan.FromMinutes(2), cancellationToken).ConfigureAwait(false);
        var text = output?.GetValue<string>() ?? string.Empty;
        if (IsHumanMonitorError(text))
        {
            throw new MachineCommandException($"machine '{Spec.Name}': '{commandLine}' failed: {text.Trim()}");
        }

        return text;
    }

    /// <summary>Whether a human monitor command's output reports a failure (HMP answers with text, not with a QMP error).</summary>
    internal static bool IsHumanMonitorError(string output) =>
        output.Contains("Error", StringComparison.OrdinalIgnoreCase) || output.Contains("Could not", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Wakes QEMU's main loop whenever a wait for console output has seen nothing for <paramref name="quiet"/>: a
    /// replay that only a test reads (no QMP polling) can otherwise sleep with output pending under load.
    /// </summary>
    public void NudgeWhileWaiting(TimeSpan quiet)
    {
        Console.Nudge = NudgeAsync;
        Console.NudgeWhileWaiting = quiet;
    }

    private async Task NudgeAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Qmp.ExecuteAsync("query-status", timeout: TimeSpan.FromSeconds(5), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (QmpException)
        {
            // A machine that went away is reported by the caller's own wait.
        }
    }

    /// <summary>
    /// Stops the machine: QMP <c>quit</c> first, a kill if QEMU has not exited within the timeout (for a recording, at
    /// least <see cref="RecordingShutdownTimeout"/>).
    /// </summary>
    public async Task ShutdownAsync(TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(10);
        if (IsRecording && limit < RecordingShutdownTimeout)
        {
            // QEMU writes the end of its replay log only as it exits: a kill cuts the log short, and a kept bundle
            // would then replay everything but its last output (a distro guest under a loaded CI took more than 10 s).
            limit = RecordingShutdownTimeout;
        }

        if (!HasExited && Qmp.IsConnected)
        {
            try
            {
                await Qmp.ExecuteAsync("quit", timeout: limit).ConfigureAwait(false);
            }
            catch (QmpException)
            {
                // QEMU may close the connection before answering 'quit'.
            }
        }

        try
        {
            await WaitForExitAsync(limit).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            await KillAsync().ConfigureAwait(false);
        }
    }

    /// <summary>How long a recording QEMU may take to exit after <c>quit</c> before it is killed.</summary>
    public static readonly TimeSpan RecordingShutdownTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Kills QEMU at once (for tests of crash handling, and for cancellation).</summary>
    public Task KillAsync() => _host.KillAsync();

    private Task<int> WaitForExitAsync(TimeSpan timeout) => _host.WaitForExitAsync(timeout);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        try
        {
            await StopRecordingHelpersAsync().ConfigureAwait(false);
            await ShutdownAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        finally
        {
            _shell.Dispose();
            await CleanUpAsync(_host, Qmp, _consoles, _run, _options.KeepRunDirectory).ConfigureAwait(false);
        }
    }

    private async Task RunSnapshotJobAsync(string command, string name, CancellationToken cancellationToken)
    {
        var jobId = $"qtk-{command}-{Guid.NewGuid():N}";
        var nodes = new JsonArray(QemuCommandLine.StateNodeName);
        for (var i = 0; i < Spec.Disks.Count; i++)
        {
            if (!Spec.Disks[i].ReadOnly)
            {
                nodes.Add(QemuCommandLine.DiskId(Spec.Disks[i], i) + "-fmt");
            }
        }

        var mark = Qmp.LastEventSequence;
        await Qmp.ExecuteAsync(command, new JsonObject
        {
            ["job-id"] = jobId,
            ["tag"] = name,
            ["vmstate"] = QemuCommandLine.StateNodeName,
            ["devices"] = nodes,
        }, cancellationToken: cancellationToken).ConfigureAwait(false);
        await GuardAsync(() => Qmp.WaitForEventAsync("JOB_STATUS_CHANGE", TimeSpan.FromMinutes(2), mark,
            e => e.Data?["id"]?.GetValue<string>() == jobId && e.Data?["status"]?.GetValue<string>() == "concluded", cancellationToken)).ConfigureAwait(false);
        var jobs = await Qmp.ExecuteAsync("query-jobs", cancellationToken: cancellationToken).ConfigureAwait(false);
        var error = (jobs as JsonArray)?.FirstOrDefault(j => j?["id"]?.GetValue<string>() == jobId)?["error"]?.GetValue<string>();
        await Qmp.ExecuteAsync("job-dismiss", new JsonObject { ["id"] = jobId }, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (error is not null)
        {
            throw new MachineCommandException($"machine '{Spec.Name}': {command} '{name}' failed: {error}");
        }
    }

    private static void ValidateSnapshotName(string name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw new ArgumentException($"snapshot name '{name}' must be non-empty and contain no spaces", nameof(name));
        }
    }

    /// <summary>Turns a console or QMP failure caused by QEMU going away into one report with the exit code and both tails.</summary>
    private async Task<T> GuardAsync<T>(Func<Task<T>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (Exception e) when (e is ConsoleClosedException or QmpDisconnectedException or IOException)
        {
            try
            {
                await WaitForExitAsync(TimeSpan.FromSeconds(3)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw;
            }

            throw new MachineExitedException(Spec.Name, ExitCode, QemuProcess.TailLines(StderrTail, 10),
                Console.Transcript.Tail(20), e);
        }
    }

    /// <summary>QEMU goes first (its host kills it if it still runs), so nothing it writes meets a closed socket or a removed directory.</summary>
    internal static async Task CleanUpAsync(IQemuHost? host, QmpClient? qmp, IEnumerable<SerialConsole> consoles, RunDirectory run, bool keep)
    {
        if (host is not null)
        {
            await host.DisposeAsync().ConfigureAwait(false);
        }

        if (qmp is not null)
        {
            await qmp.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var console in consoles)
        {
            await console.DisposeAsync().ConfigureAwait(false);
        }

        run.ReleaseHeld();
        if (!keep)
        {
            run.Dispose();
        }
    }
}
