using QemuTestKit.Introspection.Catalog;

namespace QemuTestKit.Machines.Validation;

/// <summary>
/// QEMU before 10.2 keeps no RISC-V timer deadline in a snapshot: the hart's vmstate has no Sstc <c>stimecmp</c> timer
/// (Debian's 7.2 source: target/riscv/machine.c), and the ACLINT saves <c>mtimecmp</c> without re-arming its QEMU timer
/// on load (hw/intc/riscv_aclint.c). A deadline armed when the snapshot was saved never fires after <c>-loadvm</c>;
/// one armed afterwards does, since a CSR write arms a fresh QEMU timer (target/riscv/csr.c). Upstream fixed it in
/// "Fix RISC-V timer migration issues" (pulled October 2025; 10.2 is the first release after it, inferred, not measured).
/// A fact about the QEMU build, below the runtime, so that <see cref="ReplayLimits"/> can report it too.
/// </summary>
public static class RiscvSnapshotTimers
{
    /// <summary>The first QEMU release assumed to keep them.</summary>
    public static readonly Version KeptSince = new(10, 2);

    public static bool LostAcrossSnapshots(QemuCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return catalog.Target is "riscv64" or "riscv32" && catalog.IsBefore(KeptSince.Major, KeptSince.Minor);
    }
}
