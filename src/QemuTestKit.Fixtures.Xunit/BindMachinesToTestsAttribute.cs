using System.Reflection;
using Xunit;
using Xunit.v3;
using QemuTestKit.Fixtures.Testing;

namespace QemuTestKit.Fixtures.Xunit;

/// <summary>
/// Ends the machines of every test once it has run and its outcome is known: a passing test's recordings are
/// deleted, a failing test's are kept as bundles and attached. The package applies it to the test assembly
/// (<c>[assembly: BindMachinesToTests]</c>) through its build props.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly | AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false)]
public sealed class BindMachinesToTestsAttribute : BeforeAfterTestAttribute
{
    public override void After(MethodInfo methodUnderTest, IXunitTest test)
    {
        ArgumentNullException.ThrowIfNull(test);
        var context = TestContext.Current;
        var state = context.TestState;
        var outcome = state?.Result switch
        {
            TestResult.Passed => TestOutcome.Passed,
            TestResult.Skipped or TestResult.NotRun => TestOutcome.Skipped,
            _ => TestOutcome.Failed,
        };
        var message = state?.ExceptionMessages is { Length: > 0 } messages ? string.Join("\n", messages) : null;
        // xunit's After is synchronous; the work is I/O-bound and never needs this thread's context.
        MachineHost.Shared.EndTestAsync(XunitTestScope.For(test, context), outcome, message).GetAwaiter().GetResult();
    }
}
