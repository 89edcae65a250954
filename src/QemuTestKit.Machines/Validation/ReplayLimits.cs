using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Validation;

/// <summary>A part of a machine whose recordings the QEMU build at hand cannot replay.</summary>
/// <param name="Field">The spec field that brings it in (<c>Nics[0].Model</c>, <c>Devices[2].Type</c>).</param>
/// <param name="Device">The QEMU device type.</param>
/// <param name="Why">What goes wrong, as measured.</param>
/// <param name="Fix">What to declare instead.</param>
public sealed record ReplayLimit(string Field, string Device, string Why, string Fix)
{
    /// <summary>"cannot be replayed by qemu-system-x86_64 7.2.22: why; fix", after "machine 'm': Field 'Device' ".</summary>
    public string Problem(string emulator) => $"cannot be replayed by {emulator}: {Why}; {Fix}";
}

/// <summary>
/// What a QEMU build records but cannot replay, by version: a recording of such a machine is made at full cost and
/// never replays, so validation warns about it and the runtime refuses to record it (QTK1028). Each entry was
/// measured here; a build not listed is trusted.
/// </summary>
public static class ReplayLimits
{
    public static IReadOnlyList<ReplayLimit> Of(MachineSpec spec, QemuCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(catalog);
        var limits = new List<ReplayLimit>();
        if (RiscvSnapshotTimers.LostAcrossSnapshots(catalog))
        {
            limits.Add(new ReplayLimit("MachineType", spec.MachineType,
                $"before QEMU {RiscvSnapshotTimers.KeptSince} a snapshot keeps no RISC-V timer (Sstc stimecmp, ACLINT mtimecmp), so a recording that starts from the ready snapshot does not replay",
                "run it unrecorded (Record=\"false\" on its QemuMachine item, or QEMUTESTKIT_RECORD=false); the build prepares its ready state for that"));
        }

        // QEMU 9.2 moved virtio-net's transmit bottom halves into the replay queue.
        if (!catalog.IsBefore(9, 2))
        {
            return limits;
        }

        var uses = (spec.Nics ?? []).Select((n, i) => (Field: $"Nics[{i}].Model", Type: n.Model))
            .Concat((spec.Devices ?? []).Select((d, i) => (Field: $"Devices[{i}].Type", Type: d.Type)));
        foreach (var (field, type) in uses)
        {
            // An unknown type is QTK1013's business, not this one's.
            if (type?.StartsWith("virtio-net", StringComparison.Ordinal) == true && catalog.FindDevice(type) is not null)
            {
                limits.Add(new ReplayLimit(field, type,
                    "before QEMU 9.2 virtio-net sends packets outside the replay queue, and replays of its recordings stall",
                    "use Model=\"e1000\" (it replays on this build), a container image with QEMU 9.2 or later, or run it unrecorded (Record=\"false\" on its QemuMachine item, or QEMUTESTKIT_RECORD=false)"));
            }
        }

        return limits;
    }

    /// <summary>
    /// Why a recording of <paramref name="spec"/> cannot be replayed from a checkpoint taken during it, or null when it
    /// can. A NIC's <c>post_load</c> arms a virtual-clock timer when a snapshot is loaded (e1000's mitigation timer at
    /// now + 1 ns, virtio-net's announce timer): the replay loaded from a checkpoint runs that timer, the recording
    /// (which saved the checkpoint and never loaded it) did not, so the replay waits at the checkpoint's icount for a
    /// timer checkpoint its log does not hold. Measured with e1000 and virtio-net-pci, on QEMU 7.2 and 10.0 alike; the
    /// ready snapshot is not affected (the recording itself starts by loading it).
    /// </summary>
    public static string? FromCheckpoint(MachineSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec.Nics is { Count: > 0 } nics
            ? $"machine '{spec.Name}' has a NIC ({nics[0].Model}), and QEMU cannot replay such a recording from a checkpoint (loading it arms the NIC's timers, which the recording did not run, and the replay stands still there); replay it from its start"
            : null;
    }
}
