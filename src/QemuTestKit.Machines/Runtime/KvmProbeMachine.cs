namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// The smallest machine of a target that shows a guest really running: its machine type, the CPU to ask for, where the
/// kernel's first lines go (the console of that board's first UART, with its early console so that "Linux version" is
/// printed before the driver loads), and, for a probe without a kernel, the device and marker the firmware writes.
/// </summary>
/// <param name="Machine">The <c>-machine</c> value.</param>
/// <param name="KvmCpu">The <c>-cpu</c> under KVM, where the board's default CPU model is not the host's (null: the default).</param>
/// <param name="TcgCpu">The <c>-cpu</c> under TCG, where the board's default cannot run the target's kernel (null: the default).</param>
/// <param name="Append">The kernel command line.</param>
/// <param name="Firmware">Arguments for a probe without a kernel that make the firmware write to <c>{0}</c> (a chardev id), or empty when the firmware writes to the first serial port.</param>
/// <param name="FirmwareMarker">Text in the serial log that shows the firmware ran, or null when <paramref name="Firmware"/> writes a log of its own.</param>
internal sealed record KvmProbeMachine(string Machine, string? KvmCpu, string? TcgCpu, string Append, IReadOnlyList<string> Firmware, string? FirmwareMarker)
{
    /// <summary>The probe machine of <paramref name="target"/> (<c>query-target</c>, or the binary's name), or null for a target no probe is written for.</summary>
    public static KvmProbeMachine? For(string? target) => target switch
    {
        // SeaBIOS writes to the debug console from its first instructions.
        null or "x86_64" or "i386" => new("pc", null, null, "console=ttyS0 earlyprintk=ttyS0 panic=-1",
            ["-device", "isa-debugcon,iobase=0x402,chardev={0}"], null),
        // virt's first UART is a PL011 at 0x9000000; virt's default CPU, a 32-bit cortex-a15, runs no arm64 kernel.
        "aarch64" => new("virt", "host", "max", "console=ttyAMA0 earlycon=pl011,0x9000000 panic=-1", [], null),
        // OpenSBI (-bios default) prints its banner on the first UART before any kernel runs.
        "riscv64" => new("virt", null, null, "console=ttyS0 earlycon=sbi panic=-1", [], "OpenSBI"),
        _ => null,
    };
}
