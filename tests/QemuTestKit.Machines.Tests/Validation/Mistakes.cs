using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Validation;
using C = QemuTestKit.Machines.Validation.MachineSpecErrorCodes;

namespace QemuTestKit.Machines.Tests.Validation;

/// <summary>One mistake in an otherwise valid spec, and the one coded problem it must produce.</summary>
public sealed record Mistake(
    string Code,
    string Field,
    Func<ValidationFixture, MachineSpec> Spec,
    Func<ValidationFixture, ValidationContext>? Context = null,
    Func<ValidationFixture, QemuCatalog>? Catalog = null);

/// <summary>The focused cases, by name: every code the validator can emit has at least one.</summary>
public static class Mistakes
{
    private static readonly Dictionary<string, string> NoProperties = [];

    public static IReadOnlyDictionary<string, Mistake> All { get; } = new Dictionary<string, Mistake>
    {
        ["name with a space"] = new(C.InvalidName, "Name", f => f.ValidSpec with { Name = "hello world" }),
        ["name that is only dots"] = new(C.InvalidName, "Name", f => f.ValidSpec with { Name = ".." }),
        ["name of a hidden directory"] = new(C.InvalidName, "Name", f => f.ValidSpec with { Name = ".hello" }),
        ["empty name"] = new(C.InvalidName, "Name", f => f.ValidSpec with { Name = "" }),
        ["unknown machine type"] = new(C.UnknownMachineType, "MachineType", f => f.ValidSpec with { MachineType = "pc-q99" }),
        ["deprecated machine type"] = new(C.DeprecatedMachineType, "MachineType", f => f.ValidSpec with { MachineType = "pc-i440fx-1.4" }),
        ["architecture that is not the binary's target"] = new(C.ArchitectureMismatch, "Architecture",
            f => f.ValidSpec with { Qemu = ValidationFixture.Binary, Architecture = "riscv64" }),
        ["cpu on a binary that lists no cpu models"] = new(C.CpuModelsUnknown, "Cpu", f => f.ValidSpec, Catalog: f => f.Catalog with { Cpus = [] }),
        ["unknown cpu model"] = new(C.UnknownCpuModel, "Cpu", f => f.ValidSpec with { Cpu = "Skylake-Clent" }),
        ["unknown cpu model with feature flags"] = new(C.UnknownCpuModel, "Cpu", f => f.ValidSpec with { Cpu = "maxx,+x2apic" }),
        ["deprecated cpu model"] = new(C.DeprecatedCpuModel, "Cpu", f => f.ValidSpec with { Cpu = "486" },
            Catalog: f => f.Catalog with { Cpus = f.Catalog.Cpus.Select(c => c.Name == "486" ? c with { Deprecated = true } : c).ToArray() }),
        ["zero memory"] = new(C.MemoryOutOfRange, "MemoryMiB", f => f.ValidSpec with { MemoryMiB = 0 }),
        ["more memory than the host has"] = new(C.MemoryOutOfRange, "MemoryMiB", f => f.ValidSpec with { MemoryMiB = 4096 },
            f => new ValidationContext { HostMemoryMiB = 2048 }),
        ["zero cpus"] = new(C.CpuCountOutOfRange, "Smp", f => f.ValidSpec with { Smp = 0 }),
        ["more cpus than the machine allows"] = new(C.CpuCountOutOfRange, "Smp", f => f.ValidSpec with { Smp = 289 }),
        ["kvm not compiled in"] = new(C.AcceleratorNotCompiledIn, "Accelerator", f => f.ValidSpec with { Accelerator = Accelerator.Kvm },
            Catalog: f => f.Catalog with { Accelerators = ["tcg"] }),
        ["kvm not usable"] = new(C.KvmNotUsable, "Accelerator", f => f.ValidSpec with { Accelerator = Accelerator.Kvm },
            f => new ValidationContext { KvmUsable = false }),
        ["recording with kvm"] = new(C.RecordingNeedsTcg, "Accelerator", f => f.ValidSpec with { Accelerator = Accelerator.Kvm },
            f => new ValidationContext { Recording = true }),
        ["missing kernel"] = new(C.FileNotFound, "Kernel", f => f.ValidSpec with { Kernel = f.Missing("vmlinuz") }),
        ["missing initrd"] = new(C.FileNotFound, "Initrd", f => f.ValidSpec with { Initrd = f.Missing("initrd.img") }),
        ["missing firmware"] = new(C.FileNotFound, "Firmware", f => f.ValidSpec with { Firmware = f.Missing("bios.bin") }),
        ["missing disk image"] = new(C.FileNotFound, "Disks[0].Path", f => f.ValidSpec with { Disks = [new DiskSpec(f.Missing("root.qcow2"))] }),
        ["initrd without kernel"] = new(C.NeedsKernel, "Initrd", f => f.ValidSpec with { Kernel = null, Append = null }),
        ["append without kernel"] = new(C.NeedsKernel, "Append", f => f.ValidSpec with { Kernel = null, Initrd = null }),
        ["disk format vmdk"] = new(C.UnsupportedDiskFormat, "Disks[0].Format", f => f.ValidSpec with { Disks = [new DiskSpec(f.DiskImage, "vmdk")] }),
        ["unknown disk interface"] = new(C.UnknownDeviceType, "Disks[0].Interface",
            f => f.ValidSpec with { Disks = [new DiskSpec(f.DiskImage, Interface: "virtio-blk")] }),
        ["unknown nic model"] = new(C.UnknownDeviceType, "Nics[0].Model", f => f.ValidSpec with { Nics = [new NicSpec("virtio-net-pcie")] }),
        ["unknown device type"] = new(C.UnknownDeviceType, "Devices[0].Type", f => f.ValidSpec with { Devices = [new DeviceSpec("virtio-rgn-pci")] }),
        ["unknown device type in extra arguments"] = new(C.UnknownDeviceType, "ExtraArguments[1]",
            f => f.ValidSpec with { ExtraArguments = ["-device", "e1001,id=nic9"] }),
        ["disk interface that takes no drive"] = new(C.NotAStorageDevice, "Disks[0].Interface",
            f => f.ValidSpec with { Disks = [new DiskSpec(f.DiskImage, Interface: "e1000")] }),
        ["nic model that takes no netdev"] = new(C.NotANetworkDevice, "Nics[0].Model", f => f.ValidSpec with { Nics = [new NicSpec("virtio-rng-pci")] }),
        ["host forward with an unknown protocol"] = new(C.InvalidHostForward, "Nics[0].HostForwards[0]",
            f => f.ValidSpec with { Nics = [new NicSpec("e1000", HostForwards: [new HostForward("sctp", 2222, 22)])] }),
        ["host forward to port 70000"] = new(C.InvalidHostForward, "Nics[0].HostForwards[1]",
            f => f.ValidSpec with { Nics = [new NicSpec("e1000", HostForwards: [new HostForward("tcp", 2222, 22), new HostForward("tcp", 70000, 80)])] }),
        ["host port forwarded by two nics"] = new(C.DuplicateHostPort, "Nics[1].HostForwards[0]",
            f => f.ValidSpec with { Nics = [f.ValidSpec.Nics[0], new NicSpec("e1000", [new HostForward("tcp", 2222, 2022)])] }),
        ["two disks with one id"] = new(C.DuplicateId, "Disks[1].Id",
            f => f.ValidSpec with { Disks = [new DiskSpec(f.DiskImage, Id: "root"), new DiskSpec(f.DiskImage, Id: "root")] }),
        ["device id equal to a default disk id"] = new(C.DuplicateId, "Devices[1].Id",
            f => f.ValidSpec with { Disks = [new DiskSpec(f.DiskImage)], Devices = [.. f.ValidSpec.Devices, new DeviceSpec("virtio-rng-pci", Id: "disk0")] }),
        ["device id starting with a digit"] = new(C.InvalidId, "Devices[0].Id",
            f => f.ValidSpec with { Devices = [new DeviceSpec("virtio-rng-pci", Id: "1rng")] }),
        ["device type the binary could not describe"] = new(C.UnavailableDeviceType, "Devices[0].Type",
            f => f.ValidSpec with { Devices = [new DeviceSpec("virtio-gpu-gl-pci")] },
            Catalog: f => f.Catalog with
            {
                DeviceTypes = f.Catalog.DeviceTypes.Where(d => d.Name != "virtio-gpu-gl-pci").ToArray(),
                UnavailableTypes = [new UnavailableType("virtio-gpu-gl-pci", "QEMU aborted describing it: missing object type 'virtio-gpu-gl-device'")],
            }),
        ["unknown device property"] = new(C.UnknownDeviceProperty, "Devices[0].Properties.max-byte",
            f => f.ValidSpec with { Devices = [new DeviceSpec("virtio-rng-pci", new Dictionary<string, string> { ["max-byte"] = "1024" })] }),
        ["bus the machine does not have"] = new(C.BusNotOnMachine, "Devices[0].Properties.bus",
            f => f.ValidSpec with { Devices = [new DeviceSpec("virtio-rng-pci", new Dictionary<string, string> { ["bus"] = "pci.0" })] },
            f => new ValidationContext { DeviceTree = f.Q35Tree }),
        ["pci device on a machine without pci"] = new(C.BusNotOnMachine, "Devices[0].Type",
            f => f.ValidSpec with { MachineType = "isapc", Cpu = null, Nics = [new NicSpec("ne2k_isa")] },
            f => new ValidationContext { DeviceTree = f.IsapcTree }),
        ["seven ide disks on q35's six ahci ports"] = new(C.NoRoomOnBus, "Disks[6].Interface",
            f => f.ValidSpec with { Disks = Enumerable.Range(0, 7).Select(_ => new DiskSpec(f.DiskImage, Interface: "ide-hd")).ToArray() },
            f => new ValidationContext { DeviceTree = f.Q35Tree }),
        ["ready pattern that is not a regex"] = new(C.InvalidReadyPattern, "Ready.Pattern", f => f.ValidSpec with { Ready = new ReadyCondition("login: (") }),
        ["empty ready pattern"] = new(C.InvalidReadyPattern, "Ready.Pattern", f => f.ValidSpec with { Ready = new ReadyCondition("") }),
        ["zero ready timeout"] = new(C.ReadyTimeoutOutOfRange, "Ready.TimeoutSeconds", f => f.ValidSpec with { Ready = new ReadyCondition("^READY$", 0) }),
        ["five serial consoles"] = new(C.SerialConsolesOutOfRange, "SerialConsoles", f => f.ValidSpec with { SerialConsoles = 5 }),
        ["negative serial consoles"] = new(C.SerialConsolesOutOfRange, "SerialConsoles", f => f.ValidSpec with { SerialConsoles = -1 }),
        ["virtio-net nic on qemu 7.2"] = new(C.DoesNotReplay, "Nics[0].Model", f => f.ValidSpec with { Nics = [new NicSpec("virtio-net-pci")] },
            Catalog: f => f.Catalog with { QemuVersion = "7.2.22" }),
        ["virtio-net device on qemu 9.1"] = new(C.DoesNotReplay, "Devices[0].Type", f => f.ValidSpec with { Devices = [new DeviceSpec("virtio-net-pci")] },
            Catalog: f => f.Catalog with { QemuVersion = "9.1.0" }),
        ["device property value not of its type"] = new(C.PropertyValueNotOfType, "Devices[0].Properties.max-bytes",
            f => f.ValidSpec with { Devices = [new DeviceSpec("virtio-rng-pci", new Dictionary<string, string> { ["max-bytes"] = "lots" })] }),
        ["device property value out of range"] = new(C.PropertyValueOutOfRange, "Devices[0].Properties.period",
            f => f.ValidSpec with { Devices = [new DeviceSpec("virtio-rng-pci", new Dictionary<string, string> { ["period"] = "-5" })] }),
        ["device property value not one of its values"] = new(C.PropertyValueNotInEnum, "Devices[0].Properties.disable-legacy",
            f => f.ValidSpec with { Devices = [new DeviceSpec("virtio-rng-pci", new Dictionary<string, string> { ["disable-legacy"] = "maybe" })] }),
        ["link to an undeclared object"] = new(C.LinkToUnknownId, "ExtraArguments[1].rng",
            f => f.ValidSpec with { ExtraArguments = ["-device", "virtio-rng-pci,rng=rng0"] }),
        ["-device with no value"] = new(C.MalformedDeviceArgument, "ExtraArguments[1]", f => f.ValidSpec with { ExtraArguments = ["-no-reboot", "-device"] }),
        ["-device json without driver"] = new(C.MalformedDeviceArgument, "ExtraArguments[1]",
            f => f.ValidSpec with { ExtraArguments = ["-device", """{"id":"rng9"}"""] }),
    };

    public static TheoryData<string> Names => new(All.Keys);

    public static IReadOnlyList<MachineSpecError> Validate(this Mistake mistake, ValidationFixture fixture) =>
        MachineSpecValidator.Validate(mistake.Spec(fixture), mistake.Catalog?.Invoke(fixture) ?? fixture.Catalog, mistake.Context?.Invoke(fixture));
}
