using QemuTestKit.Introspection.Catalog;

namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// QEMU before 10.2 keeps no RISC-V timer deadline in a snapshot: the hart's vmstate has no Sstc <c>stimecmp</c> timer
/// (Debian's 7.2 source: target/riscv/machine.c), and the ACLINT saves <c>mtimecmp</c> without re-arming its QEMU timer
/// on load (hw/intc/riscv_aclint.c). A deadline armed when the snapshot was saved never fires after <c>-loadvm</c>;
/// one armed afterwards does, since a CSR write arms a fresh QEMU timer (target/riscv/csr.c). Upstream fixed it in
/// "Fix RISC-V timer migration issues" (pulled October 2025; 10.2 is the first release after it, inferred, not measured).
/// </summary>
public static class RiscvTimers
{
    /// <summary>The first QEMU release assumed to keep them.</summary>
    public static readonly Version KeptSince = new(10, 2);

    /// <summary>
    /// How long a RISC-V guest runs past its ready line before the ready snapshot is saved. Right after the ready line
    /// the kernel still waits on short deadlines (the end of boot's deferred work); saved then, a start from the snapshot
    /// waits for them forever. Two seconds later the guest is idle and re-arms its timer when console input wakes it
    /// (measured on QEMU 7.2: 10 of 10 starts from one state, 7 of 7 prepared states; without it, starts stalled).
    /// </summary>
    public static readonly TimeSpan SettleBeforeSnapshot = TimeSpan.FromSeconds(2);

    public static bool LostAcrossSnapshots(QemuCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return catalog.Target is "riscv64" or "riscv32" && catalog.IsBefore(KeptSince.Major, KeptSince.Minor);
    }

    /// <summary>Lets a RISC-V guest on such a QEMU settle before its ready snapshot; returns at once elsewhere.</summary>
    public static Task SettleAsync(QemuCatalog catalog, CancellationToken cancellationToken) =>
        LostAcrossSnapshots(catalog) ? Task.Delay(SettleBeforeSnapshot, cancellationToken) : Task.CompletedTask;
}
