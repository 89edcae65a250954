using System.Globalization;
using Microsoft.Build.Framework;
using QemuTestKit.Machines.Validation;
using TaskItem = Microsoft.Build.Utilities.TaskItem;
using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Console;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Tasks.Diagnostics;
using QemuTestKit.Tasks.Items;

namespace QemuTestKit.Tasks;

/// <summary>
/// Boots one machine cold, waits for its ready pattern, and saves its ready state (<see cref="ReadyState"/>) into
/// <see cref="StateDirectory"/>. A boot that misses the pattern fails with the console tail and leaves no QEMU running;
/// Ctrl+C (<see cref="ICancelableTask.Cancel"/>) stops QEMU. A failed prepare removes the old state, so that nothing
/// stale is used and the next build tries again.
/// </summary>
public sealed class PrepareQemuMachine : QemuTestKitTask
{
    [Required]
    public string Machine { get; set; } = string.Empty;

    /// <summary>The spec written by <see cref="CheckQemuMachines"/> (absolute paths).</summary>
    [Required]
    public string SpecFile { get; set; } = string.Empty;

    [Required]
    public string StateDirectory { get; set; } = string.Empty;

    [Required]
    public string ProjectFile { get; set; } = string.Empty;

    /// <summary>The file that declares the machine, for locating errors; the project file when empty.</summary>
    public string? DefiningFile { get; set; }

    /// <summary>Where the catalogs are cached; the default cache when empty.</summary>
    public string? CacheDirectory { get; set; }

    /// <summary>While the machine boots, a line this often with the time so far and the guest's last console line (0: none).</summary>
    public int ProgressSeconds { get; set; } = 10;

    /// <summary>The machine's <c>Record</c> metadata as the check passed it on: <c>false</c> prepares a state for unrecorded runs.</summary>
    public string? Record { get; set; }

    /// <summary>The files of the saved state (state image, manifest, disk overlays), for FileWrites.</summary>
    [Output]
    public ITaskItem[] StateFiles { get; private set; } = [];

    protected override string ErrorFile => ProjectFile;

    protected override bool YieldsWhileRunning => true;

    private ItemRef MachineItem => new(ItemTypes.Machine, Machine, 0, null, string.IsNullOrEmpty(DefiningFile) ? ProjectFile : DefiningFile);

    protected override async Task<bool> ExecuteAsync(CancellationToken cancellationToken)
    {
        var spec = await MachineSpecJson.LoadAsync(SpecFile, cancellationToken).ConfigureAwait(false);
        High(string.Create(CultureInfo.InvariantCulture, $"{spec.Name}: booting ({spec.MachineType}, {spec.MemoryMiB} MiB)"));
        QemuCatalog catalog;
        try
        {
            catalog = await new CatalogCache(string.IsNullOrEmpty(CacheDirectory) ? null : CacheDirectory).GetAsync(spec.QemuBinary, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (QemuTestKitException e)
        {
            Report(Failure(spec, e));
            return false;
        }

        // A private run root for this boot: removed afterwards whatever happens, and swept by a later run if this
        // process dies (it has an owner file like any run directory).
        using var runRoot = RunDirectory.Create("build");
        ReadyState ready;
        try
        {
            // Counting instructions from the start: tests record by default, and a recorded run can only start
            // from a ready state that was prepared with icount. A machine this QEMU cannot replay (QTK1028, warned at
            // validation) is refused in record mode, so its tests run unrecorded: they get a state for that.
            var recordable = ReplayLimits.Of(spec, catalog).Count == 0 && !string.Equals(Record, "false", StringComparison.Ordinal);
            if (!recordable)
            {
                Normal(string.Equals(Record, "false", StringComparison.Ordinal)
                    ? $"{spec.Name}: preparing a ready state for unrecorded runs (Record=\"false\")"
                    : $"{spec.Name}: preparing a ready state for unrecorded runs (QTK1028: this QEMU cannot replay its recordings)");
            }

            ready = await ReadyState.PrepareAsync(spec, StateDirectory,
                new MachineStartOptions
                {
                    Catalog = catalog, RunRoot = runRoot.Path, IcountShift = recordable ? CommandLineOptions.DefaultRecordIcountShift : null,
                    BootProgress = ProgressSeconds <= 0 ? null : p => Normal(string.Create(CultureInfo.InvariantCulture,
                        $"{p.Machine}: still booting after {p.Elapsed.TotalSeconds:0} s; console: {(p.LastConsoleLine.Length > 0 ? p.LastConsoleLine : "(nothing yet)")}")),
                    BootProgressInterval = TimeSpan.FromSeconds(Math.Max(1, ProgressSeconds)),
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is QemuTestKitException || cancellationToken.IsCancellationRequested)
        {
            RemoveState();
            if (cancellationToken.IsCancellationRequested)
            {
                // Whatever surfaced while stopping, the build was cancelled: report that (QTK2015).
                throw new OperationCanceledException("preparing was cancelled", e, cancellationToken);
            }

            Report(Failure(spec, e));
            return false;
        }

        High(string.Create(CultureInfo.InvariantCulture, $"{spec.Name}: ready in {ready.BootSeconds:0.0} s, state saved"));
        Normal($"{spec.Name}: ready state in {ready.Directory} (QEMU {ready.QemuVersion})");
        StateFiles = Directory.EnumerateFiles(ready.Directory).Order(StringComparer.Ordinal).Select(f => (ITaskItem)new TaskItem(f)).ToArray();
        return true;
    }

    protected override void OnCancelled() =>
        Report(Diagnostic.Of(TaskErrorCodes.PrepareCancelled, MachineItem, ItemTypes.MachineMetadata.Prepare,
            "preparing the machine was cancelled: QEMU was stopped and no ready state was saved"));

    private Diagnostic Failure(MachineSpec spec, Exception e)
    {
        if (e is ConsoleTimeoutException timeout)
        {
            var tail = string.IsNullOrWhiteSpace(timeout.ConsoleTail) ? "the console showed nothing" : $"console tail:\n{timeout.ConsoleTail.TrimEnd()}";
            return Diagnostic.Of(TaskErrorCodes.NotReadyInTime, MachineItem, ItemTypes.MachineMetadata.ReadyPattern, string.Create(CultureInfo.InvariantCulture,
                $"'{spec.Ready.Pattern}' did not appear on the console within {spec.Ready.TimeoutSeconds} s (ReadyTimeout); QEMU was stopped and no ready state was saved. Fix ReadyPattern, or raise ReadyTimeout if the guest is only slow.\n{tail}"));
        }

        return Diagnostic.Of(TaskErrorCodes.PrepareFailed, MachineItem, ItemTypes.MachineMetadata.Prepare,
            $"the machine could not be prepared, and QEMU was stopped: {e.Message}");
    }

    private void RemoveState()
    {
        try
        {
            if (Directory.Exists(StateDirectory))
            {
                Directory.Delete(StateDirectory, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Low($"{Machine}: could not remove the old ready state {StateDirectory}: {e.Message}");
        }
    }
}
