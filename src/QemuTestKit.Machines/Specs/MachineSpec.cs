using System.Text.Json.Serialization;

namespace QemuTestKit.Machines.Specs;

/// <summary>
/// One machine, fully described: what the build validates against the emulator's catalog, what the command-line
/// builder turns into an argument array, and what the build hands to the tests as JSON. Immutable; paths are as given
/// (the build makes them absolute).
/// </summary>
public sealed record MachineSpec
{
    /// <summary>The machine's name, unique in a project (for example "hello"). Used in ids, file names and messages.</summary>
    public required string Name { get; init; }

    /// <summary>The QEMU binary: a name on PATH or a path. When null, derived from <see cref="Architecture"/>.</summary>
    public string? Qemu { get; init; }

    /// <summary>
    /// Target architecture as QEMU's <c>query-target</c> names it (x86_64, aarch64, riscv64): selects <c>qemu-system-ARCH</c>
    /// when <see cref="Qemu"/> is null, and must match the binary's target. Null means "whatever the binary is": the build
    /// and the bundle writer fill it in from the catalog (<see cref="MachineSpecArchitecture.WithTargetOf"/>).
    /// </summary>
    public string? Architecture { get; init; }

    /// <summary>Machine type or alias as QEMU names it (q35, pc, virt, pc-q35-7.2).</summary>
    public required string MachineType { get; init; }

    /// <summary>Extra <c>-machine</c> options (for example <c>acpi=off</c>), emitted sorted by key.</summary>
    public IReadOnlyDictionary<string, string> MachineOptions { get; init; } = Empty;

    /// <summary>CPU model (<c>-cpu</c>); null leaves the machine's default.</summary>
    public string? Cpu { get; init; }

    /// <summary>Guest memory in MiB (<c>-m</c>).</summary>
    public int MemoryMiB { get; init; } = 256;

    /// <summary>Number of virtual CPUs (<c>-smp</c>).</summary>
    public int Smp { get; init; } = 1;

    public Accelerator Accelerator { get; init; } = Accelerator.Tcg;

    /// <summary>Kernel image for direct boot (<c>-kernel</c>).</summary>
    public string? Kernel { get; init; }

    /// <summary>Initial RAM disk (<c>-initrd</c>); needs a kernel.</summary>
    public string? Initrd { get; init; }

    /// <summary>Kernel command line (<c>-append</c>); needs a kernel.</summary>
    public string? Append { get; init; }

    /// <summary>Firmware image (<c>-bios</c>).</summary>
    public string? Firmware { get; init; }

    public IReadOnlyList<DiskSpec> Disks { get; init; } = [];

    public IReadOnlyList<NicSpec> Nics { get; init; } = [];

    /// <summary>How many serial consoles the machine has; console 0 is the one the runtime drives.</summary>
    public int SerialConsoles { get; init; } = 1;

    public IReadOnlyList<DeviceSpec> Devices { get; init; } = [];

    /// <summary>When the machine counts as booted: a pattern on console 0, and how long to wait for it.</summary>
    public ReadyCondition Ready { get; init; } = new();

    /// <summary>Escape hatch: arguments appended as given. The validator still checks <c>-device</c> types among them.</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];

    /// <summary>The binary to run: <see cref="Qemu"/>, or <c>qemu-system-</c> plus the architecture (<see cref="DefaultArchitecture"/> when unset).</summary>
    [JsonIgnore]
    public string QemuBinary => Qemu ?? $"qemu-system-{Architecture ?? DefaultArchitecture}";

    /// <summary>The architecture whose binary runs a machine that names neither <see cref="Qemu"/> nor <see cref="Architecture"/>.</summary>
    public const string DefaultArchitecture = "x86_64";

    private static readonly IReadOnlyDictionary<string, string> Empty = new Dictionary<string, string>();
}

[JsonConverter(typeof(JsonStringEnumConverter<Accelerator>))]
public enum Accelerator
{
    /// <summary>QEMU's software emulator; the default, and the only one record/replay works with.</summary>
    Tcg,

    /// <summary>Hardware virtualisation; used only when asked for and when the host really runs a KVM guest.</summary>
    Kvm,
}

/// <summary>A disk image attached to the machine. The base image is never written: runs write to a throw-away overlay.</summary>
/// <param name="Path">The image file.</param>
/// <param name="Format">qcow2 or raw; null means detect from the file (qemu-img info).</param>
/// <param name="Interface">The device model that exposes it: virtio-blk-pci (default), ide-hd, scsi-hd, nvme.</param>
/// <param name="ReadOnly">Attach read-only (no overlay needed).</param>
/// <param name="Id">The drive id; defaults to disk0, disk1... in declaration order.</param>
public sealed record DiskSpec(string Path, string? Format = null, string Interface = "virtio-blk-pci", bool ReadOnly = false, string? Id = null);

/// <summary>A network card on user-mode networking.</summary>
/// <param name="Model">The device model: virtio-net-pci, e1000, e1000e, rtl8139...</param>
/// <param name="HostForwards">Ports forwarded from 127.0.0.1 on the host into the guest.</param>
/// <param name="Id">The netdev id; defaults to net0, net1... in declaration order.</param>
/// <param name="Mac">A fixed MAC address; defaults to a stable one derived from the machine name and index.</param>
public sealed record NicSpec(string Model = "virtio-net-pci", IReadOnlyList<HostForward>? HostForwards = null, string? Id = null, string? Mac = null);

/// <summary>
/// A port forward from 127.0.0.1:HostPort on the host to GuestPort in the guest. HostPort 0 takes a free port when the
/// machine starts (machines of tests that run in parallel cannot clash); <c>QemuMachine.HostPortAsync</c> tells which.
/// </summary>
public sealed record HostForward(string Protocol, int HostPort, int GuestPort)
{
    /// <summary>Parses <c>tcp:2222-:22</c> (QEMU's hostfwd form without addresses) or <c>tcp:2222:22</c>; <c>tcp:0-:22</c> for any free port.</summary>
    public static bool TryParse(string text, out HostForward? forward)
    {
        forward = null;
        var parts = text.Split(':', 2);
        if (parts.Length != 2 || (parts[0] != "tcp" && parts[0] != "udp"))
        {
            return false;
        }

        var ports = parts[1].Replace("-:", ":", StringComparison.Ordinal).Split(':');
        if (ports.Length != 2
            || !int.TryParse(ports[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var host)
            || !int.TryParse(ports[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var guest)
            || host is < 0 or > 65535 || guest is < 1 or > 65535)
        {
            return false;
        }

        forward = new HostForward(parts[0], host, guest);
        return true;
    }

    public override string ToString() => $"{Protocol}:{HostPort}-:{GuestPort}";
}

/// <summary>An extra device: a QEMU device type and its properties, as <c>-device TYPE,prop=value</c>.</summary>
/// <param name="Id">The device id; defaults to TYPE-N in declaration order.</param>
public sealed record DeviceSpec(string Type, IReadOnlyDictionary<string, string>? Properties = null, string? Id = null);

/// <summary>The console pattern that says the guest is ready, and how long a boot may take to print it.</summary>
public sealed record ReadyCondition(string? Pattern = null, int TimeoutSeconds = 120);
