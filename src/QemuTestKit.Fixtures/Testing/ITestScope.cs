namespace QemuTestKit.Fixtures.Testing;

/// <summary>
/// The running test as a framework adapter sees it (xunit.v3's or MSTest's <c>TestContext</c>): machines started for
/// it belong to it, its output and attachments carry the bundle, its outcome decides what is kept.
/// </summary>
public interface ITestScope
{
    /// <summary>Unique within the run (a theory's data row included); machines are bound to it.</summary>
    string Key { get; }

    /// <summary>The fully qualified test name: recorded in bundles and matched when a bundle is replayed.</summary>
    string TestName { get; }

    /// <summary>Cancelled when the test times out or the run is aborted.</summary>
    CancellationToken CancellationToken { get; }

    /// <summary>The arguments after <c>dotnet test ... --</c> that select this test alone.</summary>
    IReadOnlyList<string> FilterArguments { get; }

    /// <summary>A line in the test's output.</summary>
    void WriteLine(string line);

    /// <summary>Attaches a file to the test result (it appears in TRX reports).</summary>
    void Attach(string path, string description);
}

/// <summary>How a test ended, as far as what to keep is concerned.</summary>
public enum TestOutcome
{
    Passed,
    Failed,
    Skipped,
}
