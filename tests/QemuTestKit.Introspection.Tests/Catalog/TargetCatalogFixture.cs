using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.Tests.Support;

namespace QemuTestKit.Introspection.Tests.Catalog;

/// <summary>One real introspection of each of qemu-system-x86_64, qemu-system-aarch64 and qemu-system-riscv64, shared by the target tests.</summary>
public sealed class TargetCatalogFixture : IAsyncLifetime
{
    public static readonly string[] Targets = ["x86_64", "aarch64", "riscv64"];

    private readonly Dictionary<string, QemuCatalog> _catalogs = new(StringComparer.Ordinal);

    public QemuCatalog this[string target] => _catalogs[target];

    public async ValueTask InitializeAsync()
    {
        // One after the other: three emulators at once would only compete for the two cores.
        foreach (var target in Targets)
        {
            _catalogs[target] = await new QemuIntrospector().IntrospectAsync(TestQemu.For(target), TestContext.Current.CancellationToken);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
