using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;
using QemuTestKit.Introspection.Processes;

namespace QemuTestKit.Machines.Tests.Validation;

[CollectionDefinition(Name)]
public sealed class RealVirtMachines : ICollectionFixture<VirtBusFixture>
{
    public const string Name = "bus checks against the real aarch64 and riscv64 virt machines";
}

/// <summary>
/// The real qemu-system-aarch64 and qemu-system-riscv64, asked once: their catalogs (through a private cache), the
/// device trees of their <c>virt</c> machines, and the buses a <c>qemu-xhci</c> brings to aarch64's <c>virt</c>.
/// </summary>
public sealed class VirtBusFixture : IAsyncLifetime
{
    public const string Aarch64 = "qemu-system-aarch64";

    public const string Riscv64 = "qemu-system-riscv64";

    private readonly string _cache = Directory.CreateTempSubdirectory("qtk-virt-buses-").FullName;

    public QemuCatalog Aarch64Catalog { get; private set; } = null!;

    public QemuCatalog Riscv64Catalog { get; private set; } = null!;

    public MachineDeviceTree Aarch64Virt { get; private set; } = null!;

    public MachineDeviceTree Riscv64Virt { get; private set; } = null!;

    public IReadOnlyList<string> XhciBuses { get; private set; } = [];

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        foreach (var (binary, package) in new[] { (Aarch64, "qemu-system-arm"), (Riscv64, "qemu-system-misc") })
        {
            if (ExecutableSearch.Find(binary) is null)
            {
                throw new InvalidOperationException($"{binary} is not installed: install Debian's {package} (apt-get install -y {package})");
            }
        }

        var cache = new CatalogCache(_cache);
        Aarch64Catalog = await cache.GetAsync(Aarch64, ct);
        Riscv64Catalog = await cache.GetAsync(Riscv64, ct);
        Aarch64Virt = await DeviceTreeReader.ReadAsync(Aarch64, "virt", cancellationToken: ct);
        Riscv64Virt = await DeviceTreeReader.ReadAsync(Riscv64, "virt", cancellationToken: ct);
        XhciBuses = await ControllerBuses.ReadAsync(Aarch64, "virt", "qemu-xhci", cancellationToken: ct);
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_cache, recursive: true);
        return ValueTask.CompletedTask;
    }
}
