using Xunit;
using Xunit.v3;
using QemuTestKit.Fixtures.Testing;

namespace QemuTestKit.Fixtures.Xunit;

/// <summary>An xunit.v3 test as the fixtures see it.</summary>
internal sealed class XunitTestScope : ITestScope
{
    private readonly ITestContext _context;
    private readonly IXunitTest _test;

    private XunitTestScope(IXunitTest test, ITestContext context)
    {
        _test = test;
        _context = context;
    }

    public static XunitTestScope For(IXunitTest test, ITestContext context) => new(test, context);

    /// <exception cref="FixtureException">Not called from a running test.</exception>
    public static XunitTestScope Current()
    {
        var context = TestContext.Current;
        if (context.Test is not IXunitTest test)
        {
            throw new FixtureException("a machine can only be started from inside a running xunit test (TestContext.Current has no test)");
        }

        if (test.TestMethod.TestClass.TestCollection.TestAssembly.Assembly.GetCustomAttributes(typeof(BindMachinesToTestsAttribute), false).Length == 0
            && test.TestMethod.Method.GetCustomAttributes(typeof(BindMachinesToTestsAttribute), true).Length == 0
            && test.TestMethod.TestClass.Class.GetCustomAttributes(typeof(BindMachinesToTestsAttribute), true).Length == 0)
        {
            throw new FixtureException(
                $"test '{test.TestDisplayName}' starts a machine, but its assembly lacks [assembly: QemuTestKit.Fixtures.Xunit.BindMachinesToTests] (the QemuTestKit.Fixtures.Xunit package adds it; with a project reference, add it yourself): without it machines would outlive their test");
        }

        return new XunitTestScope(test, context);
    }

    public string Key => _test.UniqueID;

    public string TestName => _test.TestDisplayName;

    public CancellationToken CancellationToken => _context.CancellationToken;

    public IReadOnlyList<string> FilterArguments =>
        ["--filter-method", $"{_test.TestCase.TestClassName}.{_test.TestCase.TestMethodName}"];

    public void WriteLine(string line) => _context.TestOutputHelper?.WriteLine(line);

    public void Attach(string path, string description)
    {
        // Attachments are copied into the results (TRX lists them); the name says which machine and file it is.
        var name = $"{Path.GetFileName(Path.GetDirectoryName(path))}.{Path.GetFileName(path)}";
        var bytes = File.ReadAllBytes(path);
        var mediaType = path.EndsWith(".png", StringComparison.OrdinalIgnoreCase) ? "image/png"
            : path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? "application/json" : "text/plain";
        _context.AddAttachment(name, bytes, replaceExistingValue: true, mediaType);
    }
}
