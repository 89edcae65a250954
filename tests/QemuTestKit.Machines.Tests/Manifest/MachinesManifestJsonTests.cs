using System.Text.Json.Nodes;
using QemuTestKit.Machines.Manifest;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Tests.Manifest;

public sealed class MachinesManifestJsonTests
{
    private static readonly MachineSpec Spec = new()
    {
        Name = "hello",
        Qemu = "/usr/bin/qemu-system-x86_64",
        Architecture = "x86_64",
        MachineType = "q35",
        MachineOptions = new Dictionary<string, string> { ["acpi"] = "off" },
        Cpu = "max",
        MemoryMiB = 512,
        Kernel = "/src/Guest+Tests/guest/vmlinuz",
        Append = "console=ttyS0 quiet \"x\"",
        Disks = [new DiskSpec("/images/root.qcow2", "qcow2", "ide-hd", ReadOnly: true, Id: "root")],
        Nics = [new NicSpec("e1000", [new HostForward("tcp", 2222, 22)], "lan", "52:54:00:12:34:56")],
        Devices = [new DeviceSpec("virtio-rng-pci", new Dictionary<string, string> { ["max-bytes"] = "1024" }, "rng0")],
        Ready = new ReadyCondition("^READY$", 30),
        ExtraArguments = ["-no-reboot"],
    };

    /// <summary>What the build writes: one machine with every field set, one with every optional field null.</summary>
    private static readonly MachinesManifest Full = new(MachinesManifest.CurrentSchemaVersion, "QemuTestKit.Tasks 0.1.0",
        "/src/Guest.Tests/Guest.Tests.csproj", "Release",
        [
            new ManifestMachine("hello", "/usr/bin/qemu-system-x86_64", "7.2.22", Prepare: true, "/src/Guest.Tests/obj/qemutestkit/hello",
                "c775e5a8", MachineHosts.Local, Image: null, Record: false, Spec),
            new ManifestMachine("boxed", "qemu-system-x86_64", QemuVersion: null, Prepare: true, StateDirectory: null,
                "0b1d", MachineHosts.Container, "qemutestkit/qemu:10", Record: null, Spec with { Name = "boxed", Qemu = null }),
        ]);

    [Fact]
    public void What_the_build_writes_the_fixtures_read_back_with_every_field_equal()
    {
        var text = MachinesManifestJson.Serialize(Full);

        var back = MachinesManifestJson.Parse(text, "m.json");

        back.Should().BeEquivalentTo(Full, o => o.ComparingRecordsByMembers());
        MachinesManifestJson.Serialize(back).Should().Be(text);
    }

    [Fact]
    public void The_file_is_indented_camelCase_readable_and_ends_in_a_newline_with_its_nulls_written()
    {
        var text = MachinesManifestJson.Serialize(Full);

        text.Should().StartWith("{\n  \"schemaVersion\": 1,\n  \"generator\": \"QemuTestKit.Tasks 0.1.0\",").And.EndWith("}\n");
        text.Should().Contain("Guest+Tests").And.Contain("\\\"x\\\"", "only what JSON requires is escaped");
        var boxed = JsonNode.Parse(text)!["machines"]![1]!.AsObject();
        boxed.Select(p => p.Key).Should().Equal("name", "qemuBinary", "qemuVersion", "prepare", "stateDirectory", "specHash", "host", "image", "record", "spec");
        boxed["qemuVersion"].Should().BeNull();
        boxed.ContainsKey("record").Should().BeTrue("a null is written: the build knows there is none");
    }

    [Fact]
    public void The_spec_is_the_JSON_MachineSpecJson_writes()
    {
        var spec = JsonNode.Parse(MachinesManifestJson.Serialize(Full))!["machines"]![1]!["spec"];

        JsonNode.DeepEquals(spec, JsonNode.Parse(MachineSpecJson.Serialize(Full.Machines[1].Spec))).Should().BeTrue();
        spec!.AsObject().ContainsKey("qemu").Should().BeFalse("the spec leaves its nulls out, as the spec files do");
    }

    [Fact]
    public void A_manifest_of_an_earlier_build_reads_with_the_defaults_of_its_missing_fields()
    {
        const string earlier = """
            {
              "schemaVersion": 1,
              "machines": [
                {
                  "name": "hello",
                  "prepare": true,
                  "stateDirectory": "/obj/qemutestkit/hello",
                  "stateImage": "/obj/qemutestkit/hello/state.qcow2",
                  "spec": { "name": "hello", "machineType": "q35" }
                }
              ]
            }
            """;

        var hello = MachinesManifestJson.Parse(earlier, "m.json").Machines.Single();

        hello.Host.Should().Be(MachineHosts.Local, "manifests written before hosts existed are local");
        hello.QemuBinary.Should().Be("qemu-system-x86_64", "the spec's binary when the build did not name one");
        hello.Spec.MemoryMiB.Should().Be(256, "omitted spec fields keep the spec's defaults");
        hello.StateDirectory.Should().Be("/obj/qemutestkit/hello");
        hello.Record.Should().BeNull();
    }

    [Fact]
    public void A_manifest_without_machines_has_none()
    {
        MachinesManifestJson.Parse("""{"schemaVersion": 1}""", "m.json").Machines.Should().BeEmpty();
    }

    [Fact]
    public void A_spec_that_is_not_one_names_the_file_the_machine_and_the_spec_field()
    {
        var act = () => MachinesManifestJson.Parse("""{"schemaVersion": 1, "machines": [{"name": "a", "spec": {"name": "a", "machineType": "q35", "smp": "two"}}]}""", "m.json");

        act.Should().Throw<MachinesManifestFormatException>()
            .WithMessage("m.json: machines[0].spec is not a machine spec (*$.smp*); rebuild the test project to write it again");
    }
}
