using QemuTestKit.Containers;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Containers.Tests;

/// <summary>
/// The test guest prepared once on this host with icount (so runs can be recorded), and the image checked: a missing
/// engine or image fails every test with the message saying how to get it.
/// </summary>
public sealed class ContainerGuestFixture : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("qtk-ct-").FullName;

    public MachineSpec Spec { get; private set; } = null!;

    public QemuCatalog Catalog { get; private set; } = null!;

    public ReadyState Ready { get; private set; } = null!;

    public string Root => _root;

    /// <summary>The image the suite runs in: <c>QTK_TEST_IMAGE</c> (for example the QEMU 10 one), else the default.</summary>
    public static ContainerImage Image => new(Environment.GetEnvironmentVariable("QTK_TEST_IMAGE") ?? QemuBuilder.DefaultImage);

    /// <summary>Debian 13's QEMU 10.0 (./build.sh setup builds it: eng/docker/build-image.sh qemutestkit/qemu:10 trixie).</summary>
    public const string Qemu10Image = "qemutestkit/qemu:10";

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        // Engine and image first: their errors are the ones a developer without Docker must see.
        await ContainerLaunch.ConnectAsync(Image, ct);
        Catalog = await new CatalogCache().GetAsync("qemu-system-x86_64", ct);
        Spec = GuestSpecs.Hello("ct-guest");
        Ready = await ReadyState.PrepareAsync(Spec, Path.Combine(_root, "state"), new MachineStartOptions { Catalog = Catalog, IcountShift = 5 }, ct);
        // QEMU 7.2 loads the state above (made in record mode) only in recorded runs: normal runs start from this one.
        NormalReady = await ReadyState.PrepareAsync(Spec, Path.Combine(_root, "state-normal"), new MachineStartOptions { Catalog = Catalog }, ct);
    }

    /// <summary>A ready state for runs that are not recorded.</summary>
    public ReadyState NormalReady { get; private set; } = null!;

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return ValueTask.CompletedTask;
    }
}
