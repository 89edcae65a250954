using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Tests.Specs;

public sealed class MachineSpecJsonTests
{
    private static MachineSpec FullSpec => new()
    {
        Name = "hello",
        Qemu = "/usr/bin/qemu-system-x86_64",
        Architecture = "x86_64",
        MachineType = "q35",
        MachineOptions = new Dictionary<string, string> { ["acpi"] = "off", ["usb"] = "off" },
        Cpu = "max",
        MemoryMiB = 512,
        Smp = 2,
        Accelerator = Accelerator.Kvm,
        Kernel = "/images/vmlinuz",
        Initrd = "/images/initrd.img",
        Append = "console=ttyS0 quiet",
        Firmware = "/images/bios.bin",
        Disks = [new DiskSpec("/images/root.qcow2", "qcow2", "ide-hd", ReadOnly: true, Id: "root")],
        Nics = [new NicSpec("e1000", [new HostForward("tcp", 2222, 22), new HostForward("udp", 5353, 53)], "lan", "52:54:00:12:34:56")],
        SerialConsoles = 2,
        Devices = [new DeviceSpec("virtio-rng-pci", new Dictionary<string, string> { ["max-bytes"] = "1024" }, "rng0")],
        Ready = new ReadyCondition("^READY$", 30),
        ExtraArguments = ["-no-reboot", "-device", "isa-serial,id=com2"],
    };

    [Fact]
    public void A_full_spec_survives_a_round_trip()
    {
        var json = MachineSpecJson.Serialize(FullSpec);

        var back = MachineSpecJson.Deserialize(json, "hello.json");

        back.Should().BeEquivalentTo(FullSpec, options => options.ComparingRecordsByMembers());
        MachineSpecJson.Serialize(back).Should().Be(json);
    }

    // Fails today: the source-generated deserializer sets every init-only property, so fields left out of the JSON get
    // default(T) instead of the record's defaults (dotnet/runtime#84484). Unskip when MachineSpecJson works around it.
    [Fact]
    public void Defaults_are_restored_for_fields_left_out()
    {
        var spec = MachineSpecJson.Deserialize("""{"name":"tiny","machineType":"pc"}""", "tiny.json");

        spec.Should().BeEquivalentTo(new MachineSpec { Name = "tiny", MachineType = "pc" }, options => options.ComparingRecordsByMembers());
        spec.QemuBinary.Should().Be("qemu-system-x86_64");
    }

    [Fact]
    public async Task Save_and_load_through_a_file_keep_the_content()
    {
        var path = Path.Combine(Path.GetTempPath(), $"qtk-spec-{Guid.NewGuid():N}.json");
        try
        {
            await MachineSpecJson.SaveAsync(FullSpec, path, TestContext.Current.CancellationToken);
            var back = await MachineSpecJson.LoadAsync(path, TestContext.Current.CancellationToken);

            MachineSpecJson.Serialize(back).Should().Be(MachineSpecJson.Serialize(FullSpec));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("{\"name\":\"hello\",")]
    [InlineData("[1, 2]")]
    [InlineData("{\"machineType\":\"q35\"}")]
    [InlineData("{\"name\":\"hello\",\"machineType\":\"q35\",\"memoryMiB\":\"256 MiB\"}")]
    [InlineData("{\"name\":\"hello\",\"machineType\":\"q35\",\"accelerator\":\"hvf\"}")]
    public void Malformed_json_is_a_format_error_that_names_the_source(string json)
    {
        var act = () => MachineSpecJson.Deserialize(json, "obj/machines/hello.json");

        act.Should().Throw<MachineSpecFormatException>().Which.Message.Should().StartWith("obj/machines/hello.json: ");
    }

    [Fact]
    public void Json_null_is_a_format_error_that_names_the_source()
    {
        var act = () => MachineSpecJson.Deserialize("null", "hello.json");

        act.Should().Throw<MachineSpecFormatException>().Which.Message.Should().Be("hello.json: a machine spec must be a JSON object");
    }
}
