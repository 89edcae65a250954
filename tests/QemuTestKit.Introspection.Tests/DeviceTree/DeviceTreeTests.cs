using QemuTestKit.Introspection.DeviceTree;
using QemuTestKit.Introspection.Tests.Support;

namespace QemuTestKit.Introspection.Tests.DeviceTree;

public sealed class DeviceTreeTests
{
    [Fact]
    public async Task The_q35_tree_has_its_host_bridge_root_bus_and_an_added_nic_at_a_pci_address()
    {
        var tree = await DeviceTreeReader.ReadAsync(TestQemu.Binary, "q35", ["-device", "e1000,id=nic0"],
            cancellationToken: TestContext.Current.CancellationToken);

        var hostBridge = tree.AllDevices().Should().ContainSingle(d => d.Type == "q35-pcihost").Subject;
        var pcie0 = hostBridge.Buses.Should().ContainSingle(b => b.Name == "pcie.0").Subject;
        pcie0.Type.Should().Be("PCIE");
        pcie0.Devices.Should().Contain(d => d.Type == "mch" && d.Address == "00.0", "the MCH is the host bridge's PCI function 0");

        var nic = tree.AllDevices().Should().ContainSingle(d => d.Id == "nic0").Subject;
        nic.Type.Should().Be("e1000");
        nic.Bus.Should().Be(pcie0.Path);
        nic.Address.Should().MatchRegex(@"^[0-9a-f]{2}\.[0-7]$");
        pcie0.Devices.Should().Contain(nic);
        tree.Root.Type.Should().Be("System");
    }

    [Fact]
    public async Task A_machine_the_binary_does_not_have_is_a_clear_error()
    {
        var act = () => DeviceTreeReader.ReadAsync(TestQemu.Binary, "pc-q99", cancellationToken: TestContext.Current.CancellationToken);
        (await act.Should().ThrowAsync<QemuProbeException>()).Which.Message.Should().Contain("pc-q99");
    }
}
