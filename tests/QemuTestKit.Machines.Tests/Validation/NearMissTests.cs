using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Machines.Tests.Validation;

public sealed class NearMissTests
{
    [Theory]
    [InlineData("q53", "q35", 1)]
    [InlineData("Q35", "q35", 0)]
    [InlineData("netdve", "netdev", 1)]
    [InlineData("e1000", "e1000e", 1)]
    [InlineData("", "abc", 3)]
    public void Distance_counts_edits_with_swaps_ignoring_case(string a, string b, int expected)
    {
        NearMiss.Distance(a, b).Should().Be(expected);
        NearMiss.Distance(b, a).Should().Be(expected);
    }

    [Fact]
    public void Suggest_returns_at_most_three_closest_first()
    {
        NearMiss.Suggest("e1000", ["e1000e", "e1000-82544gc", "e100", "e1001", "rtl8139", "e1000"])
            .Should().Equal("e100", "e1001", "e1000e");
    }

    [Fact]
    public void Suggest_offers_longer_names_that_start_with_the_given_one()
    {
        NearMiss.Suggest("virtio-rng", ["virtio-rng-device", "virtio-rng-pci", "virtio-net-pci"]).Should().Equal("virtio-rng-pci", "virtio-rng-device");
    }

    [Fact]
    public void Suggest_ignores_blank_input()
    {
        NearMiss.Suggest(" ", ["a"]).Should().BeEmpty();
    }
}
