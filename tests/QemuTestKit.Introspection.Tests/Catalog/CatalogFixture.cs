using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.Tests.Support;

namespace QemuTestKit.Introspection.Tests.Catalog;

/// <summary>One real introspection of qemu-system-x86_64, shared by the catalog tests.</summary>
public sealed class CatalogFixture : IAsyncLifetime
{
    public QemuCatalog Catalog { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Catalog = await new QemuIntrospector().IntrospectAsync(TestQemu.Binary, TestContext.Current.CancellationToken);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
