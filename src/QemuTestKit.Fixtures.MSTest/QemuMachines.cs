using Microsoft.VisualStudio.TestTools.UnitTesting;
using QemuTestKit.Fixtures.Testing;

namespace QemuTestKit.Fixtures.MSTest;

/// <summary>
/// Machines for MSTest tests without a base class: <see cref="StartAsync"/> in a test, <see cref="EndTestAsync"/>
/// in a <c>[TestCleanup]</c> (or a <c>[GlobalTestCleanup]</c>) so that the outcome decides what is kept.
/// <see cref="QemuTestClass"/> does both.
/// </summary>
public static class QemuMachines
{
    public static Task<GuestMachine> StartAsync(TestContext testContext, string name, MachineOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(testContext);
        return MachineHost.Shared.StartAsync(new MSTestScope(testContext), name, options, cancellationToken);
    }

    /// <summary>Stops the test's machines and keeps or deletes their recordings by <see cref="TestContext.CurrentTestOutcome"/>.</summary>
    public static Task EndTestAsync(TestContext testContext)
    {
        ArgumentNullException.ThrowIfNull(testContext);
        var outcome = testContext.CurrentTestOutcome switch
        {
            UnitTestOutcome.Passed => TestOutcome.Passed,
            UnitTestOutcome.Inconclusive or UnitTestOutcome.NotRunnable or UnitTestOutcome.Ignored => TestOutcome.Skipped,
            _ => TestOutcome.Failed,
        };
        return MachineHost.Shared.EndTestAsync(new MSTestScope(testContext), outcome, testContext.TestException?.Message);
    }
}
