using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Machines.Tests.Runtime;

/// <summary>The test guest prepared once (one cold boot) into a ready state that the tests start instances from.</summary>
public sealed class ReadyGuestFixture : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("qtk-ready-").FullName;
    private readonly int? _icountShift;

    public ReadyGuestFixture()
    {
    }

    /// <param name="icountShift">Prepare with icount (needed to record runs from the ready state).</param>
    internal ReadyGuestFixture(int? icountShift) => _icountShift = icountShift;

    public MachineSpec Spec { get; private set; } = null!;

    public QemuCatalog Catalog { get; private set; } = null!;

    public ReadyState Ready { get; private set; } = null!;

    /// <summary>What the preparing boot reported while it waited for the ready pattern (every second here).</summary>
    public IReadOnlyList<BootProgress> BootReports => _bootReports;

    private readonly List<BootProgress> _bootReports = [];

    public MachineStartOptions Options => new() { Catalog = Catalog };

    public async ValueTask InitializeAsync()
    {
        Catalog = await new CatalogCache(Path.Combine(_root, "cache")).GetAsync("qemu-system-x86_64", TestContext.Current.CancellationToken);
        Spec = GuestSpecs.Hello("ready-guest");
        Ready = await ReadyState.PrepareAsync(Spec, Path.Combine(_root, "state"), Options with
        {
            IcountShift = _icountShift,
            BootProgress = p =>
            {
                lock (_bootReports)
                {
                    _bootReports.Add(p);
                }
            },
            BootProgressInterval = TimeSpan.FromSeconds(1),
        }, TestContext.Current.CancellationToken);
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return ValueTask.CompletedTask;
    }
}
