using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Manifest;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Fixtures.Host;

/// <summary>
/// The ready state each machine starts from: the build's when it is usable, otherwise one prepared on first use and
/// shared by the rest of the run (the build may have skipped preparing, prepared without icount, or be stale).
/// </summary>
internal sealed class ReadyStates : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<Prepared>>> _states = new(StringComparer.Ordinal);
    private readonly string _privateRoot;
    private readonly string? _runRoot;

    public ReadyStates(string privateRoot, string? runRoot)
    {
        _privateRoot = privateRoot;
        _runRoot = runRoot;
    }

    /// <summary>A ready state, and a note for the test output when it had to be made now.</summary>
    /// <param name="Catalog">The local QEMU's catalog; null for a machine hosted elsewhere (its QEMU is asked when it starts).</param>
    public sealed record Prepared(ReadyState State, QemuCatalog? Catalog, string? Note);

    /// <param name="launcher">Where the machine runs, when not on this host (<see cref="IMachineHosting.LauncherFor"/>).</param>
    /// <param name="icountShift">The shift a recorded run needs; null when the run is not recorded.</param>
    public Task<Prepared> GetAsync(ManifestMachine machine, IQemuLauncher? launcher, int? icountShift, CancellationToken cancellationToken)
    {
        var key = string.Create(CultureInfo.InvariantCulture, $"{machine.Name}\n{icountShift}\n{machine.Host}\n{machine.Image}");
        var lazy = _states.GetOrAdd(key, _ => new Lazy<Task<Prepared>>(() => LoadOrPrepareAsync(machine, launcher, icountShift)));
        return lazy.Value.WaitAsync(cancellationToken);
    }

    private async Task<Prepared> LoadOrPrepareAsync(ManifestMachine machine, IQemuLauncher? launcher, int? icountShift)
    {
        if (launcher is not null)
        {
            return await PrepareHostedAsync(machine, launcher, icountShift).ConfigureAwait(false);
        }

        var catalog = await new CatalogCache().GetAsync(machine.Spec.QemuBinary).ConfigureAwait(false);
        string why;
        if (machine.StateDirectory is null)
        {
            why = "the build prepares no ready state for it (Prepare=\"false\")";
        }
        else if (ReadyState.Load(machine.StateDirectory) is not { } built)
        {
            why = $"the build left no ready state in {machine.StateDirectory}";
        }
        else if (built.MismatchWith(machine.Spec, catalog) is { } mismatch)
        {
            why = mismatch;
        }
        else if (icountShift is not null && built.IcountShift != icountShift)
        {
            why = built.IcountShift is null
                ? "the build's ready state was prepared without icount, which recorded runs need"
                : string.Create(CultureInfo.InvariantCulture, $"the build's ready state counts instructions with shift {built.IcountShift}, this run asks for {icountShift}");
        }
        else if (icountShift is not null && !built.ForRecording)
        {
            why = "the build's ready state was prepared in a normal run (by an earlier QemuTestKit), which QEMU 7.2 cannot record from usefully";
        }
        else if (icountShift is null && built.ForRecording)
        {
            // QEMU 7.2 loads a snapshot saved in record mode only in record and replay runs.
            why = "the build's ready state is made for recorded runs, and this run is not recorded";
        }
        else
        {
            return new Prepared(built, catalog, null);
        }

        // Prepared once for this run, in private: the build's state is never touched by a test run.
        var directory = Path.Combine(_privateRoot, string.Create(CultureInfo.InvariantCulture, $"{machine.Name}-shift{icountShift?.ToString(CultureInfo.InvariantCulture) ?? "none"}"));
        var stopwatch = Stopwatch.StartNew();
        var prepared = await ReadyState.PrepareAsync(machine.Spec, directory,
            new MachineStartOptions { Catalog = catalog, IcountShift = icountShift, RunRoot = _runRoot }).ConfigureAwait(false);
        return new Prepared(prepared, catalog, string.Create(CultureInfo.InvariantCulture,
            $"machine '{machine.Name}': {why}; booted it once for this run ({stopwatch.Elapsed.TotalSeconds:0.0} s)"));
    }

    /// <summary>
    /// A machine hosted elsewhere (a container) gets its ready state from the QEMU it runs on (the build does not boot
    /// it: the build needs no Docker engine), once per run, in private like any state made by a test run.
    /// </summary>
    private async Task<Prepared> PrepareHostedAsync(ManifestMachine machine, IQemuLauncher launcher, int? icountShift)
    {
        var directory = Path.Combine(_privateRoot, string.Create(CultureInfo.InvariantCulture,
            $"{machine.Name}-{machine.Host}-shift{icountShift?.ToString(CultureInfo.InvariantCulture) ?? "none"}"));
        var stopwatch = Stopwatch.StartNew();
        var prepared = await ReadyState.PrepareAsync(machine.Spec, directory,
            new MachineStartOptions { IcountShift = icountShift, RunRoot = _runRoot, Launcher = launcher }, CancellationToken.None).ConfigureAwait(false);
        return new Prepared(prepared, null, string.Create(CultureInfo.InvariantCulture,
            $"machine '{machine.Name}' runs {launcher.Where}: booted it once there for this run ({stopwatch.Elapsed.TotalSeconds:0.0} s)"));
    }

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(_privateRoot))
            {
                Directory.Delete(_privateRoot, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>The shift recorded runs use when nothing else is asked for.</summary>
    public static int DefaultRecordShift => CommandLineOptions.DefaultRecordIcountShift;
}
