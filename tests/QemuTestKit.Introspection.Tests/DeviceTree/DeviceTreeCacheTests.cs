using System.Text.Json;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;
using QemuTestKit.Introspection.Tests.Catalog;
using QemuTestKit.Introspection.Tests.Support;

namespace QemuTestKit.Introspection.Tests.DeviceTree;

public sealed class DeviceTreeCacheTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>, IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("qtk-trees-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static string Json(MachineDeviceTree tree) => JsonSerializer.Serialize(tree, CatalogJsonContext.Default.MachineDeviceTree);

    [Fact]
    public async Task A_tree_is_read_once_per_binary_and_machine_type_and_then_comes_from_its_file()
    {
        var ct = TestContext.Current.CancellationToken;
        var cache = new DeviceTreeCache(_directory);

        var first = await cache.GetAsync(fixture.Catalog, "pc", ct);
        var file = Directory.GetFiles(_directory, "devicetree-*.json").Should().ContainSingle().Subject;
        var written = File.GetLastWriteTimeUtc(file);
        var again = await new DeviceTreeCache(_directory).GetAsync(fixture.Catalog, "pc", ct);

        Json(again).Should().Be(Json(first));
        File.GetLastWriteTimeUtc(file).Should().Be(written, "a cached tree is not read from QEMU again");
        first.AllBuses().Select(b => b.Name).Should().Contain(["pci.0", "ide.0", "ide.1", "isa.0"]);
    }

    [Fact]
    public async Task A_changed_binary_is_read_again_and_a_machine_it_lacks_is_null_from_TryGet()
    {
        var ct = TestContext.Current.CancellationToken;
        var cache = new DeviceTreeCache(_directory);
        await cache.GetAsync(fixture.Catalog, "q35", ct);
        var changed = fixture.Catalog with { BinaryIdentity = fixture.Catalog.BinaryIdentity with { Size = fixture.Catalog.BinaryIdentity.Size + 1 } };

        (await cache.GetAsync(changed, "q35", ct)).AllBuses().Should().Contain(b => b.Name == "pcie.0");
        Directory.GetFiles(_directory, "devicetree-*.json").Should().HaveCount(2);
        (await cache.TryGetAsync(fixture.Catalog, "pc-q99", ct)).Should().BeNull();
    }

    [Fact]
    public async Task A_qemu_xhci_brings_a_usb_bus_and_a_virtio_rng_brings_none()
    {
        var ct = TestContext.Current.CancellationToken;

        (await ControllerBuses.ReadAsync(TestQemu.Binary, "q35", "qemu-xhci", cancellationToken: ct)).Should().Equal("usb-bus");
        (await ControllerBuses.ReadAsync(TestQemu.Binary, "q35", "virtio-rng-pci", cancellationToken: ct)).Should().BeEmpty();
    }
}
