using Microsoft.VisualStudio.TestTools.UnitTesting;
using QemuTestKit.Fixtures.Testing;

namespace QemuTestKit.Fixtures.MSTest;

/// <summary>An MSTest test as the fixtures see it.</summary>
internal sealed class MSTestScope : ITestScope
{
    private readonly TestContext _context;

    public MSTestScope(TestContext context)
    {
        _context = context;
    }

    public string Key => $"{TestName}\n{_context.TestDisplayName}";

    public string TestName => $"{_context.FullyQualifiedTestClassName}.{_context.TestName}";

    public CancellationToken CancellationToken => _context.CancellationToken;

    public IReadOnlyList<string> FilterArguments => ["--filter", $"FullyQualifiedName={TestName}"];

    public void WriteLine(string line) => _context.WriteLine(line);

    public void Attach(string path, string description) => _context.AddResultFile(path);
}
