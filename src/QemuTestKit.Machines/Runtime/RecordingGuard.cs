using System.Globalization;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.Images;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// Refuses to record from a snapshot QEMU 7.2 cannot record from usefully, before QEMU starts. A snapshot saved outside
/// record mode has no replay counter (<c>qemu-img</c> shows no icount for it); QEMU then accounts the snapshot's whole
/// instruction count R as one <c>int</c> step: the recording aborts at once ("Assertion `diff &gt;= 0' failed") when
/// R mod 2^32 &gt;= 2^31, and otherwise replays with a counter 2^32·k behind, where replay-break never stops.
/// </summary>
internal static class RecordingGuard
{
    /// <summary>A recording that could never be replayed is not made: it would cost a recording's time for nothing.</summary>
    public static void CheckReplayable(MachineSpec spec, QemuCatalog catalog, MachineStartOptions options)
    {
        if (options.Mode != RunMode.Record || ReplayLimits.Of(spec, catalog) is not { Count: > 0 } limits)
        {
            return;
        }

        throw new MachineStartException($"{MachineSpecErrorCodes.DoesNotReplay}: " + string.Join("; and ",
            limits.Select(l => $"machine '{spec.Name}': {l.Field} '{l.Device}' {l.Problem($"{spec.QemuBinary} {catalog.QemuVersion}")}")));
    }

    public static async Task CheckStartSnapshotAsync(MachineSpec spec, MachineRunFiles files, MachineStartOptions options, CancellationToken ct)
    {
        if (options.Mode != RunMode.Record || options.LoadSnapshot is not { } name || options.SnapshotCheckedForRecording)
        {
            return;
        }

        var snapshots = await new QemuImg().ListSnapshotsAsync(files.StateImage, cancellationToken: ct).ConfigureAwait(false);
        var snapshot = snapshots.FirstOrDefault(s => s.Name == name);
        if (snapshot is not null && snapshot.Icount is null)
        {
            throw new MachineStartException(string.Create(CultureInfo.InvariantCulture,
                $"machine '{spec.Name}' cannot be recorded from snapshot '{name}': it was saved outside record mode, and QEMU 7.2 would count its whole ") +
                "instruction count as one 32-bit replay step (the recording aborts or never stops at a replay-break); " +
                "record from a ready state prepared for recording (ReadyState.PrepareAsync with IcountShift) or from a cold boot");
        }
    }
}
