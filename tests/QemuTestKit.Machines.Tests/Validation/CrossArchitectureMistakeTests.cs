using QemuTestKit.Machines.Tests.Support;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Validation;
using C = QemuTestKit.Machines.Validation.MachineSpecErrorCodes;

namespace QemuTestKit.Machines.Tests.Validation;

/// <summary>
/// What a user coming from x86 writes on an aarch64 or riscv64 <c>virt</c> board: each mistake, in an otherwise valid
/// declaration, is one coded problem at validation (judged by the real binaries' catalogs and the real trees of their
/// machines), not QEMU's refusal when the machine is prepared.
/// </summary>
[Collection(RealVirtMachines.Name)]
public sealed class CrossArchitectureMistakeTests(VirtBusFixture fixture)
{
    private static readonly Dictionary<string, string> NoProperties = [];

    /// <summary>The mistakes by name: the architecture, what is wrong, and the code and field it must produce.</summary>
    public static IReadOnlyDictionary<string, (string Architecture, Func<MachineSpec, MachineSpec> Mistake, string Code, string Field)> All { get; } =
        new Dictionary<string, (string, Func<MachineSpec, MachineSpec>, string, string)>
        {
            ["aarch64: an x86 cpu model"] = ("aarch64", s => s with { Cpu = "Skylake-Client" }, C.UnknownCpuModel, "Cpu"),
            ["aarch64: qemu64, the x86 default cpu"] = ("aarch64", s => s with { Cpu = "qemu64" }, C.UnknownCpuModel, "Cpu"),
            ["aarch64: a riscv64 cpu model"] = ("aarch64", s => s with { Cpu = "rv64" }, C.UnknownCpuModel, "Cpu"),
            ["aarch64: the q35 machine type"] = ("aarch64", s => s with { MachineType = "q35" }, C.UnknownMachineType, "MachineType"),
            ["aarch64: the pc machine type"] = ("aarch64", s => s with { MachineType = "pc" }, C.UnknownMachineType, "MachineType"),
            ["aarch64: an ide disk"] = ("aarch64", s => s with { Disks = [new DiskSpec("/images/root.qcow2", "qcow2", "ide-hd")] }, C.BusNotOnMachine, "Disks[0].Interface"),
            ["aarch64: an ide cdrom"] = ("aarch64", s => s with { Disks = [new DiskSpec("/images/cd.iso", "raw", "ide-cd")] }, C.BusNotOnMachine, "Disks[0].Interface"),
            ["aarch64: an hd audio codec without an hd audio controller"] = ("aarch64", s => s with { Devices = [new DeviceSpec("hda-duplex")] }, C.BusNotOnMachine, "Devices[0].Type"),
            ["aarch64: a usb tablet without a usb controller"] = ("aarch64", s => s with { Devices = [new DeviceSpec("usb-tablet")] }, C.BusNotOnMachine, "Devices[0].Type"),
            ["aarch64: a usb keyboard without a usb controller"] = ("aarch64", s => s with { Devices = [new DeviceSpec("usb-kbd")] }, C.BusNotOnMachine, "Devices[0].Type"),
            ["aarch64: an i2c temperature sensor"] = ("aarch64", s => s with { Devices = [new DeviceSpec("tmp105")] }, C.BusNotOnMachine, "Devices[0].Type"),
            ["aarch64: isa-debugcon, the x86 debug port"] = ("aarch64", s => s with { Devices = [new DeviceSpec("isa-debugcon")] }, C.UnknownDeviceType, "Devices[0].Type"),
            ["aarch64: an isa nic"] = ("aarch64", s => s with { Nics = [new NicSpec("ne2k_isa")] }, C.UnknownDeviceType, "Nics[0].Model"),
            ["aarch64: an integer property given a word"] = ("aarch64", s => s with { Devices = [Rng("max-bytes", "lots")] }, C.PropertyValueNotOfType, "Devices[0].Properties.max-bytes"),
            ["aarch64: a negative unsigned property"] = ("aarch64", s => s with { Devices = [Rng("period", "-5")] }, C.PropertyValueOutOfRange, "Devices[0].Properties.period"),
            ["aarch64: an on/off/auto property given maybe"] = ("aarch64", s => s with { Devices = [Rng("disable-legacy", "maybe")] }, C.PropertyValueNotInEnum, "Devices[0].Properties.disable-legacy"),
            ["aarch64: a bool property given a number"] = ("aarch64", s => s with { Devices = [Rng("any_layout", "2")] }, C.PropertyValueNotOfType, "Devices[0].Properties.any_layout"),
            ["aarch64: a pci slot past 1f"] = ("aarch64", s => s with { Devices = [Rng("addr", "0x20")] }, C.PropertyValueOutOfRange, "Devices[0].Properties.addr"),
            ["aarch64: a link to an undeclared rng backend"] = ("aarch64", s => s with { Devices = [Rng("rng", "rng9")] }, C.LinkToUnknownId, "Devices[0].Properties.rng"),
            ["aarch64: a mac address one byte short"] = ("aarch64", s => s with { Nics = [new NicSpec("e1000", Mac: "52:54:00:12:34")] }, C.PropertyValueNotOfType, "Nics[0].Mac"),
            ["aarch64: more pci devices than the root bus has slots"] = ("aarch64", s => s with { Devices = Enumerable.Range(0, 32).Select(_ => new DeviceSpec("virtio-rng-pci")).ToArray() }, C.NoRoomOnBus, "Devices[30].Type"),
            ["aarch64: declared x86_64 on the aarch64 binary"] = ("aarch64", s => s with { Qemu = VirtBusFixture.Aarch64, Architecture = "x86_64" }, C.ArchitectureMismatch, "Architecture"),
            ["riscv64: an x86 cpu model"] = ("riscv64", s => s with { Cpu = "Skylake-Client" }, C.UnknownCpuModel, "Cpu"),
            ["riscv64: an arm cpu model"] = ("riscv64", s => s with { Cpu = "cortex-a57" }, C.UnknownCpuModel, "Cpu"),
            ["riscv64: the q35 machine type"] = ("riscv64", s => s with { MachineType = "q35" }, C.UnknownMachineType, "MachineType"),
            ["riscv64: an ide disk"] = ("riscv64", s => s with { Disks = [new DiskSpec("/images/root.qcow2", "qcow2", "ide-hd")] }, C.BusNotOnMachine, "Disks[0].Interface"),
            ["riscv64: a usb tablet without a usb controller"] = ("riscv64", s => s with { Devices = [new DeviceSpec("usb-tablet")] }, C.BusNotOnMachine, "Devices[0].Type"),
            ["riscv64: a negative unsigned property"] = ("riscv64", s => s with { Devices = [Rng("period", "-5")] }, C.PropertyValueOutOfRange, "Devices[0].Properties.period"),
            ["riscv64: declared aarch64 on the riscv64 binary"] = ("riscv64", s => s with { Qemu = VirtBusFixture.Riscv64, Architecture = "aarch64" }, C.ArchitectureMismatch, "Architecture"),
        };

    public static TheoryData<string> Names => new(All.Keys);

    [Fact]
    public void There_are_at_least_twenty_mistakes_over_both_architectures()
    {
        All.Should().HaveCountGreaterThanOrEqualTo(20);
        All.Values.Select(m => m.Architecture).Distinct().Should().BeEquivalentTo(["aarch64", "riscv64"]);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void A_cross_architecture_mistake_is_its_one_coded_problem_at_validation(string name)
    {
        var (architecture, mistake, code, field) = All[name];
        var (catalog, tree) = Target(architecture);
        var valid = Board(architecture);
        MachineSpecValidator.Validate(valid, catalog, Context(tree)).WithoutReplayLimits().Should().BeEmpty("the board without the mistake is valid");

        var errors = MachineSpecValidator.Validate(mistake(valid), catalog, Context(tree)).WithoutReplayLimits();

        errors.Select(e => (e.Code, e.Field)).Should().Equal([(code, field)], string.Join("\n", errors));
        errors[0].Message.Should().StartWith($"machine 'board': {field} ", "the message names the declaration that is wrong");
    }

    private (QemuCatalog Catalog, MachineDeviceTree Tree) Target(string architecture) => architecture == "aarch64"
        ? (fixture.Aarch64Catalog, fixture.Aarch64Virt)
        : (fixture.Riscv64Catalog, fixture.Riscv64Virt);

    private static MachineSpec Board(string architecture) => new()
    {
        Name = "board",
        Architecture = architecture,
        MachineType = "virt",
        Cpu = architecture == "aarch64" ? "cortex-a57" : "rv64",
        MemoryMiB = 256,
    };

    private static ValidationContext Context(MachineDeviceTree tree) => new() { DeviceTree = tree, FileExists = _ => true };

    private static DeviceSpec Rng(string property, string value) =>
        new("virtio-rng-pci", new Dictionary<string, string>(NoProperties) { [property] = value });
}
