using System.CommandLine;
using QemuTestKit.Cli.Output;
using QemuTestKit.Cli.Output.Json;
using QemuTestKit.Machines.Bundles;

namespace QemuTestKit.Cli.Commands;

/// <summary><c>qemutestkit bundle</c>: look into a replay bundle (<c>info</c>) and check its files (<c>verify</c>).</summary>
internal static class BundleCommand
{
    public static Command Create() =>
        new("bundle", "Inspect and verify replay bundles (<name>.qtkreplay directories or their .zip)")
        {
            Info(),
            Verify(),
        };

    private static Argument<string> BundleArgument() =>
        new("bundle") { Description = "The bundle: a <name>.qtkreplay directory, its bundle.json, or a .qtkreplay.zip" };

    private static Option<string[]> SearchDirOption() =>
        new("--search-dir")
        {
            Description = "A directory to look for the bundle's external files in (by file name) before their recorded path; repeatable",
            AllowMultipleArgumentsPerToken = false,
        };

    private static Command Info()
    {
        var bundle = BundleArgument();
        var json = new Option<bool>("--json") { Description = "Print bundle.json (normalized) on stdout" };
        var searchDir = SearchDirOption();
        var command = new Command("info", "Show a bundle's test, failure, QEMU, machine, checkpoints, transcript, timings and files") { bundle, json, searchDir };
        command.SetAction(async (parse, ct) =>
        {
            var options = new BundleOpenOptions { ExternalSearchDirectories = parse.GetValue(searchDir) ?? [] };
            await using var opened = await ReplayBundle.OpenAsync(parse.GetValue(bundle)!, options, ct);
            var output = parse.GetValue(json)
                ? BundleManifestJson.Serialize(opened.Manifest) + "\n"
                : await BundleSummary.FormatAsync(opened, ct);
            await Console.Out.WriteAsync(output);
            return 0;
        });
        return command;
    }

    private static Command Verify()
    {
        var bundle = BundleArgument();
        var json = new Option<bool>("--json") { Description = "Print the verdict, every file checked and every problem as one JSON document on stdout" };
        var searchDir = SearchDirOption();
        var command = new Command("verify", "Check every file of a bundle against its size and sha256; exit 0 only when the bundle is intact") { bundle, json, searchDir };
        command.SetAction(async (parse, ct) =>
        {
            var options = new BundleOpenOptions { ExternalSearchDirectories = parse.GetValue(searchDir) ?? [] };
            await using var opened = await ReplayBundle.OpenAsync(parse.GetValue(bundle)!, options, ct);
            var verification = await opened.VerifyAsync(ct);
            if (parse.GetValue(json))
            {
                await JsonOutput.WriteAsync(VerifyReport.From(verification), CliJsonContext.Default.VerifyReport);
            }
            else
            {
                await PrintAsync(verification);
            }

            return verification.IsIntact ? 0 : CliErrors.Failure;
        });
        return command;
    }

    private static async Task PrintAsync(BundleVerification verification)
    {
        foreach (var problem in verification.Problems)
        {
            await Console.Out.WriteLineAsync(problem);
        }

        foreach (var unlisted in verification.UnlistedFiles)
        {
            await Console.Out.WriteLineAsync($"note: {unlisted} is not listed in bundle.json (not part of the bundle; ignored)");
        }

        await Console.Out.WriteLineAsync(BundleSummary.Verdict(verification));
    }
}
