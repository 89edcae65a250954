using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Tasks.Diagnostics;
using QemuTestKit.Tasks.Items;

using static QemuTestKit.Tasks.Tests.Support.TaskItems;

namespace QemuTestKit.Tasks.Tests.Unit;

public sealed class ItemReaderTests
{
    private const string Project = "/work/p/p.csproj";

    [Fact]
    public void Items_map_one_to_one_onto_the_spec_with_absolute_paths()
    {
        var reader = new ItemReader(Project);
        var machines = reader.Read(
            [Item("hello", ("Qemu", "tools/qemu"), ("MachineType", "q35"), ("MachineOptions", "acpi=off"), ("Cpu", "max"), ("Memory", "1G"),
                ("Smp", "2"), ("Accelerator", "tcg"), ("Kernel", "guest/vmlinuz"), ("Initrd", "guest/initrd"), ("Append", "console=ttyS0"),
                ("Firmware", "bios-256k.bin"), ("SerialConsoles", "2"), ("ReadyPattern", "READY "), ("ReadyTimeout", "30s"),
                ("ExtraArguments", "-rtc;base=utc"), ("Prepare", "true"))],
            [Item("disks/data.qcow2", ("Machine", "hello"), ("Format", "qcow2"), ("Interface", "virtio"), ("ReadOnly", "true"), ("Id", "data"))],
            [Item("net0", ("Machine", "hello"), ("Model", "e1000"), ("HostForwards", "tcp:2222-:22"), ("Mac", "52:54:00:12:34:56"))],
            [Item("virtio-rng-pci", ("Machine", "hello"), ("Properties", "max-bytes=1024"), ("Id", "rng0"))]);

        reader.Diagnostics.Should().BeEmpty();
        var machine = machines.Should().ContainSingle().Subject;
        machine.Prepare.Should().BeTrue();
        var spec = machine.Spec;
        spec.Should().BeEquivalentTo(new MachineSpec
        {
            Name = "hello",
            Qemu = "/work/p/tools/qemu",
            MachineType = "q35",
            MachineOptions = new Dictionary<string, string> { ["acpi"] = "off" },
            Cpu = "max",
            MemoryMiB = 1024,
            Smp = 2,
            Kernel = "/work/p/guest/vmlinuz",
            Initrd = "/work/p/guest/initrd",
            Append = "console=ttyS0",
            Firmware = "bios-256k.bin",
            SerialConsoles = 2,
            Ready = new ReadyCondition("READY ", 30),
            ExtraArguments = ["-rtc", "base=utc"],
            Disks = [new DiskSpec("/work/p/disks/data.qcow2", "qcow2", "virtio-blk-pci", true, "data")],
            Nics = [new NicSpec("e1000", [new HostForward("tcp", 2222, 22)], "net0", "52:54:00:12:34:56")],
            Devices = [new DeviceSpec("virtio-rng-pci", new Dictionary<string, string> { ["max-bytes"] = "1024" }, "rng0")],
        });
        machine.InputFiles().Should().Equal("/work/p/guest/vmlinuz", "/work/p/guest/initrd", "/work/p/disks/data.qcow2");
    }

    [Fact]
    public void Empty_metadata_keeps_the_specs_defaults()
    {
        var reader = new ItemReader(Project);
        var spec = reader.Read([Item("m", ("MachineType", "pc"), ("Memory", ""), ("Smp", " "))], [], [], []).Single().Spec;

        reader.Diagnostics.Should().BeEmpty();
        spec.MemoryMiB.Should().Be(256);
        spec.Smp.Should().Be(1);
        spec.QemuBinary.Should().Be("qemu-system-x86_64");
    }

    [Fact]
    public void Duplicate_names_ignoring_case_are_errors_and_the_first_declaration_wins()
    {
        var reader = new ItemReader(Project);
        var machines = reader.Read([Item("twin", ("MachineType", "q35")), Item("twin", ("MachineType", "pc")), Item("Twin", ("MachineType", "pc"))], [], [], []);

        machines.Should().ContainSingle().Which.Spec.MachineType.Should().Be("q35");
        reader.Diagnostics.Select(d => d.Code).Should().Equal(TaskErrorCodes.DuplicateMachineName, TaskErrorCodes.DuplicateMachineName);
        reader.Diagnostics[0].Message.Should().Be(
            "QemuMachine 'twin', Include: 'twin' is already declared: machine names must be unique in a project (ignoring case), as they name the machine's state directory");
        reader.Diagnostics[1].Message.Should().Contain("'Twin' differs only in case from 'twin'");
        reader.Diagnostics[1].Item.Occurrence.Should().Be(0);
        reader.Diagnostics[0].Item.Occurrence.Should().Be(1, "the second 'twin' element is the one to point at");
    }

    [Fact]
    public void Items_of_undeclared_or_missing_machines_are_errors_with_suggestions()
    {
        var reader = new ItemReader(Project);
        reader.Read([Item("hello", ("MachineType", "q35"))],
            [Item("data.qcow2", ("Machine", "helo"))],
            [Item("net0", ("Machine", "Hello"))],
            [Item("virtio-rng-pci")]);

        reader.Diagnostics.Select(d => (d.Code, d.Item.Subject, d.Metadata)).Should().Equal(
            (TaskErrorCodes.UndeclaredMachine, "QemuDisk 'data.qcow2' of machine 'helo'", "Machine"),
            (TaskErrorCodes.UndeclaredMachine, "QemuNic 'net0' of machine 'Hello'", "Machine"),
            (TaskErrorCodes.MissingMetadata, "QemuDevice 'virtio-rng-pci'", "Machine"));
        reader.Diagnostics[0].Text.Should().EndWith("did you mean 'hello'?");
        reader.Diagnostics[1].Text.Should().EndWith("did you mean 'hello'?");
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("false", false)]
    [InlineData("True", true)]
    public void Record_is_the_machines_own_recording_choice_or_null_to_follow_the_run(string? value, bool? expected)
    {
        var reader = new ItemReader(Project);
        var metadata = value is null ? new[] { ("MachineType", "q35") } : [("MachineType", "q35"), ("Record", value)];

        var machine = reader.Read([Item("m", metadata)], [], [], []).Single();

        reader.Diagnostics.Should().BeEmpty();
        machine.Record.Should().Be(expected);
    }

    [Fact]
    public void A_Record_that_is_not_a_boolean_is_QTK2003()
    {
        var reader = new ItemReader(Project);

        var machine = reader.Read([Item("m", ("MachineType", "q35"), ("Record", "sometimes"))], [], [], []).Single();

        reader.Diagnostics.Should().ContainSingle().Which.Should().Match<Diagnostic>(d => d.Code == TaskErrorCodes.MalformedBoolean && d.Metadata == "Record");
        machine.Record.Should().BeNull();
    }

    [Fact]
    public void Every_malformed_value_is_reported_and_remembered_as_unreadable()
    {
        var reader = new ItemReader(Project);
        var machine = reader.Read([Item("m", ("Memory", "256 MiB"), ("Smp", "lots"), ("Accelerator", "hvf"), ("Prepare", "maybe"),
            ("ReadyTimeout", "soon"), ("MachineOptions", "acpi"), ("SerialConsoles", "x"))], [], [], []).Single();

        reader.Diagnostics.Select(d => (d.Code, d.Metadata)).Should().BeEquivalentTo(new[]
        {
            (TaskErrorCodes.MissingMetadata, "MachineType"), (TaskErrorCodes.MalformedMemorySize, "Memory"), (TaskErrorCodes.MalformedNumber, "Smp"),
            (TaskErrorCodes.UnknownAccelerator, "Accelerator"), (TaskErrorCodes.MalformedBoolean, "Prepare"), (TaskErrorCodes.MalformedNumber, "ReadyTimeout"),
            (TaskErrorCodes.MalformedKeyValueList, "MachineOptions"), (TaskErrorCodes.MalformedNumber, "SerialConsoles"),
        });
        machine.Unreadable.Select(u => u.Metadata).Should().BeEquivalentTo(
            "MachineType", "Memory", "Smp", "Accelerator", "Prepare", "ReadyTimeout", "MachineOptions", "SerialConsoles");
        reader.Diagnostics.Single(d => d.Metadata == "Memory").Message.Should().Be(
            "QemuMachine 'm', metadata Memory: '256 MiB' is not a memory size: write the unit right after the number, without a space (256M, 256MiB, 1G)");
    }

    [Fact]
    public void Unknown_metadata_is_a_warning_with_a_suggestion()
    {
        var reader = new ItemReader(Project);
        reader.Read([Item("m", ("MachineType", "q35"), ("Memroy", "1G"))], [], [], []);

        var warning = reader.Diagnostics.Should().ContainSingle().Subject;
        warning.Code.Should().Be(TaskErrorCodes.UnknownMetadata);
        warning.IsError.Should().BeFalse();
        warning.Message.Should().StartWith("QemuMachine 'm', metadata Memroy: not a metadata name of QemuMachine").And.EndWith("did you mean 'Memory'?");
    }
}
