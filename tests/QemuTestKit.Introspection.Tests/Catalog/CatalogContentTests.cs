using QemuTestKit.Introspection.Catalog;

namespace QemuTestKit.Introspection.Tests.Catalog;

public sealed class CatalogContentTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private QemuCatalog Catalog => fixture.Catalog;

    [Fact]
    public void Knows_the_version_and_target_of_the_binary()
    {
        Catalog.QemuVersion.Should().MatchRegex(@"^\d+\.\d+\.\d+$");
        Catalog.Target.Should().Be("x86_64");
        Catalog.Source.Should().Be(CatalogSource.Qemu);
        Catalog.Binary.Should().StartWith("/");
    }

    [Fact]
    public void Lists_machines_with_aliases_and_the_default()
    {
        Catalog.Machines.Should().HaveCountGreaterThan(50);
        Catalog.FindMachine("q35").Should().NotBeNull("q35 is an alias of the newest pc-q35-* machine");
        Catalog.FindMachine("pc").Should().NotBeNull("pc is an alias of the newest pc-i440fx-* machine");
        Catalog.FindMachine("pc")!.Name.Should().StartWith("pc-i440fx-");
        Catalog.Machines.Should().ContainSingle(m => m.IsDefault);
        Catalog.FindMachine("q35")!.CpuMax.Should().BeGreaterThan(1);
    }

    [Fact]
    public void Lists_cpu_models_including_max()
    {
        Catalog.FindCpu("max").Should().NotBeNull();
        Catalog.Cpus.Should().HaveCountGreaterThan(20);
    }

    [Fact]
    public void Describes_device_properties_with_their_types()
    {
        var e1000 = Catalog.FindDevice("e1000");
        e1000.Should().NotBeNull();
        e1000!.FindProperty("netdev").Should().NotBeNull();
        e1000.FindProperty("netdev")!.Type.Should().Be("str");
        e1000.FindProperty("mac").Should().NotBeNull();
        Catalog.DeviceTypes.Should().HaveCountGreaterThan(200);
    }

    [Fact]
    public void Survives_device_types_that_abort_the_emulator()
    {
        // Debian's QEMU 7.2 aborts on these two (a display module is missing); another build may describe them.
        foreach (var name in new[] { "virtio-gpu-gl-pci", "virtio-vga-gl" })
        {
            var unavailable = Catalog.UnavailableTypes.FirstOrDefault(u => u.Name == name);
            var described = Catalog.FindDevice(name);
            (unavailable is not null || described is not null).Should().BeTrue($"{name} must be either described or listed as unavailable");
            if (unavailable is not null)
            {
                unavailable.Reason.Should().NotBeNullOrWhiteSpace();
                described.Should().BeNull();
            }
        }

        // The walk went on after the crashes: types sorted after them were still described.
        Catalog.FindDevice("virtio-net-pci").Should().NotBeNull();
        Catalog.FindDevice("vmxnet3").Should().NotBeNull();
    }

    [Fact]
    public void Knows_the_qom_type_hierarchy_and_accelerators()
    {
        Catalog.QomTypes.Should().Contain(t => t.Name == "e1000" && t.Parent == "e1000-base");
        Catalog.QomTypes.Should().Contain(t => t.Name == "device" && t.Abstract);
        Catalog.Accelerators.Should().Contain("tcg");
    }

    [Fact]
    public void Records_the_qmp_schema_and_the_commands_later_layers_need()
    {
        Catalog.QmpSchemaHash.Should().MatchRegex("^[0-9a-f]{64}$");
        Catalog.QmpCommands.Should().Contain("query-replay").And.Contain("qom-list").And.BeInAscendingOrder(StringComparer.Ordinal);
        Catalog.RequiredCommands.Should().ContainKey("replay-break").WhoseValue.Should().BeTrue();
        Catalog.RequiredCommands.Should().ContainKey("screendump").WhoseValue.Should().BeTrue();
    }
}
