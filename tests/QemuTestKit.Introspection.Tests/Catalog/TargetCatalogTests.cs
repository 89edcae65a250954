using QemuTestKit.Introspection.Catalog;

namespace QemuTestKit.Introspection.Tests.Catalog;

/// <summary>What the real x86_64, aarch64 and riscv64 emulators (QEMU 7.2) say about their target and CPU models.</summary>
public sealed class TargetCatalogTests(TargetCatalogFixture fixture) : IClassFixture<TargetCatalogFixture>
{
    public static TheoryData<string> Targets => new(TargetCatalogFixture.Targets);

    [Theory]
    [MemberData(nameof(Targets))]
    public void The_catalog_records_the_target_the_binary_reports(string target)
    {
        fixture[target].Target.Should().Be(target, "query-target of qemu-system-{0} answers {0}", target);
        fixture[target].Binary.Should().EndWith($"qemu-system-{target}");
    }

    [Fact]
    public void Riscv64_has_cpu_models_although_it_has_no_query_cpu_definitions()
    {
        var catalog = fixture["riscv64"];

        catalog.HasCommand("query-cpu-definitions").Should().BeFalse("QEMU 7.2's riscv64 has no such command: the models come from QOM");
        catalog.CpusFrom.Should().Be(CpuModelSources.QomTypes);
        catalog.Cpus.Select(c => c.Name).Should().Contain(["rv64", "sifive-u54", "sifive-e51", "any"]);
        catalog.FindCpu("rv64")!.TypeName.Should().Be("rv64-riscv-cpu");
        catalog.Cpus.Should().NotContain(c => c.Name.EndsWith("-cpu", StringComparison.Ordinal) || c.Name == "riscv", "models are type names without -riscv-cpu, and the abstract base is none");
        catalog.Cpus.Select(c => c.Name).Should().BeInAscendingOrder(StringComparer.Ordinal);
    }

    [Theory]
    [InlineData("x86_64")]
    [InlineData("aarch64")]
    public void On_targets_that_have_both_the_qom_types_give_the_models_of_query_cpu_definitions(string target)
    {
        var catalog = fixture[target];

        catalog.CpusFrom.Should().Be(CpuModelSources.CpuDefinitions);
        QomCpuModels.From(catalog.QomTypes).Select(c => (c.Name, c.TypeName))
            .Should().BeEquivalentTo(catalog.Cpus.Select(c => (c.Name, c.TypeName)), "the QOM rule must agree with the target's own list where both exist");
    }
}
