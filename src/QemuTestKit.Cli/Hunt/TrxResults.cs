using System.Text.RegularExpressions;
using System.Xml;
using System.Xml.Linq;

namespace QemuTestKit.Cli.Hunt;

/// <summary>One test result of a TRX file.</summary>
/// <param name="StdOut">What the test wrote to its output (the fixtures' "kept the recording" lines are there).</param>
/// <param name="ResultFiles">The files attached to the result.</param>
internal sealed record TrxTestResult(string Name, string Outcome, string? Message, string StdOut, IReadOnlyList<string> ResultFiles)
{
    /// <summary>Failed, Error, Timeout, Aborted: every outcome that is neither a pass nor a test that did not run.</summary>
    public bool Failed => Outcome is not ("Passed" or "NotExecuted" or "Inconclusive" or "Pending" or "Warning");
}

/// <summary>
/// The results of one run, read from the TRX file the test application writes (<c>--report-trx</c>): which tests failed
/// and why come from the test platform itself, not from console lines whose wording can change.
/// </summary>
internal static partial class TrxResults
{
    private static readonly XNamespace Ns = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010";

    public static async Task<IReadOnlyList<TrxTestResult>> ReadAsync(string path, CancellationToken ct)
    {
        XDocument document;
        try
        {
            await using var stream = File.OpenRead(path);
            document = await XDocument.LoadAsync(stream, LoadOptions.None, ct).ConfigureAwait(false);
        }
        catch (XmlException e)
        {
            throw new HuntException($"the TRX file {path} cannot be read ({e.Message})");
        }

        return [.. document.Descendants(Ns + "UnitTestResult").Select(r =>
        {
            var output = r.Element(Ns + "Output");
            return new TrxTestResult(
                (string?)r.Attribute("testName") ?? "(unnamed test)",
                (string?)r.Attribute("outcome") ?? "Unknown",
                output?.Element(Ns + "ErrorInfo")?.Element(Ns + "Message")?.Value,
                output?.Element(Ns + "StdOut")?.Value ?? string.Empty,
                [.. r.Descendants(Ns + "ResultFile").Select(f => (string?)f.Attribute("path")).OfType<string>()]);
        })];
    }

    /// <summary>
    /// The bundles a failed test kept: the paths the fixtures print in the test's output (the TRX has no other place
    /// for a directory), and a bundle.json attached from inside a bundle that still exists.
    /// </summary>
    public static IEnumerable<string> Bundles(TrxTestResult result) =>
        KeptLine().Matches(result.StdOut).Select(m => m.Groups["path"].Value.Trim())
            .Concat(result.ResultFiles.Where(f => Path.GetFileName(f) == "bundle.json").Select(f => Path.GetDirectoryName(f)!))
            .Where(p => p.EndsWith(".qtkreplay", StringComparison.Ordinal) && Directory.Exists(p));

    [GeneratedRegex(@"^qemutestkit: kept the recording of machine '[^']*': (?<path>.+)$", RegexOptions.Multiline)]
    private static partial Regex KeptLine();
}
