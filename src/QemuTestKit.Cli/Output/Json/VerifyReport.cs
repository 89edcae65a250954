using QemuTestKit.Machines.Bundles;

namespace QemuTestKit.Cli.Output.Json;

/// <summary><c>bundle verify --json</c>: the verdict, every file checked and every problem line of the human output.</summary>
internal sealed record VerifyReport(
    string Bundle,
    bool Intact,
    string Verdict,
    long Bytes,
    IReadOnlyList<VerifyReport.FileEntry> Files,
    IReadOnlyList<VerifyReport.ExternalEntry> ExternalFiles,
    IReadOnlyList<string> Problems,
    IReadOnlyList<string> UnlistedFiles)
{
    /// <param name="Status">ok, missing, sizeMismatch, hashMismatch or unsafe.</param>
    internal sealed record FileEntry(string Path, string Role, string Status, long Size, long? ActualSize, string? Problem);

    /// <param name="Status">found, missing, sizeMismatch or hashMismatch.</param>
    internal sealed record ExternalEntry(string OriginalPath, string Role, string Status, string? FoundAt, string? Problem);

    public static VerifyReport From(BundleVerification verification) => new(
        verification.Bundle,
        verification.IsIntact,
        BundleSummary.Verdict(verification),
        verification.BundleBytes,
        [.. verification.Files.Select(f => new FileEntry(f.File.Path, f.File.Role, Camel(f.Status.ToString()), f.File.Size, f.ActualSize, f.Problem))],
        [.. verification.ExternalFiles.Select(e => new ExternalEntry(e.File.OriginalPath, e.File.Role, Camel(e.Status.ToString()), e.FoundAt, e.Problem))],
        verification.Problems,
        verification.UnlistedFiles);

    private static string Camel(string name) => char.ToLowerInvariant(name[0]) + name[1..];
}
