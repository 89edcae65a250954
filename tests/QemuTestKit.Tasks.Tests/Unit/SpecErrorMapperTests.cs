using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Validation;
using QemuTestKit.Tasks.Diagnostics;
using QemuTestKit.Tasks.Items;

namespace QemuTestKit.Tasks.Tests.Unit;

public sealed class SpecErrorMapperTests
{
    private static readonly ItemRef MachineItem = new(ItemTypes.Machine, "hello", 0, null, "/p/p.csproj");
    private static readonly ItemRef DiskItem = new(ItemTypes.Disk, "data.qcow2", 0, "hello", "/p/p.csproj");
    private static readonly ItemRef NicItem = new(ItemTypes.Nic, "net0", 0, "hello", "/p/p.csproj");
    private static readonly ItemRef DeviceItem = new(ItemTypes.Device, "e1000", 0, "hello", "/p/p.csproj");

    private static readonly MachineDeclaration Machine = new(MachineItem, new MachineSpec { Name = "hello", MachineType = "q35" }, false,
        [DiskItem], [NicItem], [DeviceItem], new HashSet<(ItemRef, string)> { (MachineItem, "Memory") });

    [Theory]
    [InlineData("Name", "QemuMachine", "Include")]
    [InlineData("MachineType", "QemuMachine", "MachineType")]
    [InlineData("MemoryMiB", "QemuMachine", "Memory")]
    [InlineData("Ready.Pattern", "QemuMachine", "ReadyPattern")]
    [InlineData("Ready.TimeoutSeconds", "QemuMachine", "ReadyTimeout")]
    [InlineData("ExtraArguments[3]", "QemuMachine", "ExtraArguments")]
    [InlineData("ExtraArguments[3].id", "QemuMachine", "ExtraArguments")]
    [InlineData("Disks[0].Path", "QemuDisk", "Include")]
    [InlineData("Disks[0].Interface", "QemuDisk", "Interface")]
    [InlineData("Disks[0].Format", "QemuDisk", "Format")]
    [InlineData("Nics[0].Id", "QemuNic", "Include")]
    [InlineData("Nics[0].Model", "QemuNic", "Model")]
    [InlineData("Nics[0].HostForwards[1]", "QemuNic", "HostForwards")]
    [InlineData("Nics[0].Mac", "QemuNic", "Mac")]
    [InlineData("Devices[0].Type", "QemuDevice", "Include")]
    [InlineData("Devices[0].Properties.speed", "QemuDevice", "Properties")]
    [InlineData("Devices[0].Properties.bus", "QemuDevice", "Properties")]
    [InlineData("Devices[0].Id", "QemuDevice", "Id")]
    public void Spec_fields_map_to_the_item_and_metadata_the_user_wrote(string field, string itemType, string metadata)
    {
        var (item, found) = SpecErrorMapper.Locate(field, Machine);

        item.ItemType.Should().Be(itemType);
        found.Should().Be(metadata);
    }

    [Fact]
    public void The_message_names_the_item_and_metadata_instead_of_the_spec_field()
    {
        var error = new MachineSpecError(MachineSpecErrorCodes.UnknownDeviceProperty, MachineSpecSeverity.Error, "hello", "Devices[0].Properties.speed",
            "speed", "a property of 'e1000'", ["speed"], "machine 'hello': Devices[0].Properties.speed 'speed' is not a property of device type 'e1000'");

        var diagnostic = SpecErrorMapper.Map(error, Machine)!;

        diagnostic.Code.Should().Be("QTK1021");
        diagnostic.Message.Should().Be("QemuDevice 'e1000' of machine 'hello', metadata Properties: 'speed' is not a property of device type 'e1000'");
    }

    [Fact]
    public void Problems_with_metadata_that_could_not_be_read_are_not_reported_twice()
    {
        var error = new MachineSpecError(MachineSpecErrorCodes.MemoryOutOfRange, MachineSpecSeverity.Error, "hello", "MemoryMiB", "0", "at least 1", [],
            "machine 'hello': MemoryMiB '0' must be at least 1 MiB");

        SpecErrorMapper.Map(error, Machine).Should().BeNull();
    }
}
