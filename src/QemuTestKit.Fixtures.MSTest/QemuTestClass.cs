using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace QemuTestKit.Fixtures.MSTest;

/// <summary>
/// A base for MSTest classes whose tests use machines: <see cref="StartAsync(string, CancellationToken)"/> gives the
/// current test a machine, and after each test its machines are stopped and a failing test's recordings kept as
/// bundles attached to the result (<c>AddResultFile</c>).
/// </summary>
public abstract class QemuTestClass
{
    /// <summary>Set by MSTest before each test.</summary>
    public TestContext TestContext { get; set; } = null!;

    protected Task<GuestMachine> StartAsync(string name, CancellationToken cancellationToken = default) =>
        QemuMachines.StartAsync(TestContext, name, null, cancellationToken);

    protected Task<GuestMachine> StartAsync(string name, MachineOptions options, CancellationToken cancellationToken = default) =>
        QemuMachines.StartAsync(TestContext, name, options, cancellationToken);

    /// <summary>Runs after the derived class's own cleanup, when the outcome is known.</summary>
    [TestCleanup]
    public Task EndMachinesAsync() => QemuMachines.EndTestAsync(TestContext);
}
