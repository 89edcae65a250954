using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Tests.Validation;

/// <summary>
/// The validation tests share one <see cref="ValidationFixture"/>. A collection fixture rather than an assembly fixture:
/// an assembly fixture is started before every test of the assembly, so the other suites here would wait for QEMU too.
/// </summary>
[CollectionDefinition(Name)]
public sealed class RealQemuValidation : ICollectionFixture<ValidationFixture>
{
    public const string Name = "validation against the real qemu-system-x86_64";
}

/// <summary>
/// The real qemu-system-x86_64, asked once for the whole test run: its catalog (through a private cache directory),
/// the device trees of q35 and isapc, and a directory with stand-in boot files.
/// </summary>
public sealed class ValidationFixture : IAsyncLifetime
{
    public const string Binary = "qemu-system-x86_64";

    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"qtk-validation-{Guid.NewGuid():N}");

    public QemuCatalog Catalog { get; private set; } = null!;

    public MachineDeviceTree Q35Tree { get; private set; } = null!;

    public MachineDeviceTree IsapcTree { get; private set; } = null!;

    public string Kernel => Path.Combine(_directory, "vmlinuz");

    public string Initrd => Path.Combine(_directory, "initrd.img");

    public string DiskImage => Path.Combine(_directory, "disk.qcow2");

    public string Missing(string name) => Path.Combine(_directory, "missing", name);

    /// <summary>A spec with no problem at all; each mistake is this spec with one thing changed.</summary>
    public MachineSpec ValidSpec => new()
    {
        Name = "hello",
        MachineType = "q35",
        Cpu = "max",
        MemoryMiB = 256,
        Kernel = Kernel,
        Initrd = Initrd,
        Append = "console=ttyS0 quiet panic=-1",
        // e1000: this QEMU (7.2) replays it; virtio-net-pci would draw the QTK1028 warning.
        Nics = [new NicSpec("e1000", [new HostForward("tcp", 2222, 22)])],
        Devices = [new DeviceSpec("virtio-rng-pci", new Dictionary<string, string> { ["max-bytes"] = "1024" })],
        Ready = new ReadyCondition("^READY$", 60),
    };

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        foreach (var file in new[] { Kernel, Initrd, DiskImage })
        {
            await File.WriteAllTextAsync(file, "stand-in", TestContext.Current.CancellationToken);
        }

        var ct = TestContext.Current.CancellationToken;
        Catalog = await new CatalogCache(Path.Combine(_directory, "cache")).GetAsync(Binary, ct);
        Q35Tree = await DeviceTreeReader.ReadAsync(Binary, "q35", cancellationToken: ct);
        IsapcTree = await DeviceTreeReader.ReadAsync(Binary, "isapc", cancellationToken: ct);
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_directory, recursive: true);
        return ValueTask.CompletedTask;
    }
}
