using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Validation;
using C = QemuTestKit.Machines.Validation.MachineSpecErrorCodes;

namespace QemuTestKit.Machines.Tests.Validation;

/// <summary>Property values judged against the real qemu-system-aarch64's catalog: the types come from the binary, not from x86.</summary>
public sealed class AArch64PropertyValueTests
{
    private const string Binary = "qemu-system-aarch64";

    [Fact]
    public async Task Values_on_a_virt_machine_are_judged_against_the_aarch64_catalog()
    {
        var catalog = await CatalogAsync();
        var spec = new MachineSpec
        {
            Name = "arm",
            Architecture = "aarch64",
            MachineType = "virt",
            Cpu = "cortex-a57",
            Devices =
            [
                new DeviceSpec("virtio-rng-pci", new Dictionary<string, string> { ["period"] = "-5", ["addr"] = "06.0" }),
                new DeviceSpec("pl061", new Dictionary<string, string> { ["pullups"] = "0x100000000" }),
                new DeviceSpec("virtio-rng-device", new Dictionary<string, string> { ["max-bytes"] = "1M", ["rng"] = "rng0" }),
            ],
        };

        var errors = MachineSpecValidator.Validate(spec, catalog);

        errors.Where(e => e.Code.StartsWith("QTK104", StringComparison.Ordinal)).Select(e => (e.Code, e.Field)).Should().Equal(
            [
                (C.PropertyValueOutOfRange, "Devices[0].Properties.period"),
                (C.PropertyValueOutOfRange, "Devices[1].Properties.pullups"),
                (C.PropertyValueNotOfType, "Devices[2].Properties.max-bytes"),
                (C.LinkToUnknownId, "Devices[2].Properties.rng"),
            ], because: string.Join("\n", errors));
    }

    private static async Task<QemuCatalog> CatalogAsync()
    {
        var directory = Path.Combine(Path.GetTempPath(), $"qtk-aarch64-{Guid.NewGuid():N}");
        try
        {
            return await new CatalogCache(directory).GetAsync(Binary, TestContext.Current.CancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new InvalidOperationException($"{Binary} is needed for this test: apt-get install qemu-system-arm ({e.Message})", e);
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }
}
